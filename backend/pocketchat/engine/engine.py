"""The scheduler: a bounded FIFO queue, slots that share one context, and continuous batching.

A `Context` is not thread-safe, so one worker thread owns it. Each step batches the next token
of every generating slot plus a chunk of any prompt still being read (chunked prefill), decodes
once, and samples per slot. Requests reach their HTTP streams through their own `Handle`.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass

from pocketchat.engine.llama import Batch, Context, LlamaError, LlamaModel, Sampler
from pocketchat.engine.placement import pick_slot, slot_beside_busy
from pocketchat.engine.slots import Handle, Slot, common_prefix_length
from pocketchat.engine.snapshots import Match, SnapshotStore
from pocketchat.engine.types import (
    Delta,
    Failed,
    Finished,
    GenerationRequest,
    Progress,
    Queued,
    Started,
    Timings,
    TokenChoice,
    TokenLogprob,
)

log = logging.getLogger(__name__)

DECODE_OK, DECODE_NO_ROOM, DECODE_ABORTED = 0, 1, 2
# How many prompt tokens prime the repetition penalties of a new reply.
PENALTY_HISTORY = 64
# A slot's cache is kept (engine/snapshots.py) when giving the slot away loses this many of its
# tokens; and a kept state or another slot's cache is restored into a slot when it holds this
# many more of the prompt than the slot's own cache: fewer are read about as fast as copied.
KEEP_MIN_LOST = 16
RESTORE_MIN_GAIN = 16
# Weight of the newest step in the running prompt-reading rate (tokens/s).
RATE_WEIGHT = 0.3
# While replies are being decoded, a step reads at most this long a prompt chunk (at the recent
# reading rate), so that they keep getting a token at least every second; never fewer tokens
# than MIN_CHUNK. Without replies decoding, a step reads a full N_BATCH chunk.
STEP_SECONDS_WHILE_DECODING = 0.8
MIN_CHUNK = 32
# The first prompt chunk the engine reads is this short: its time gives the reading rate that
# progress reports estimate with (a full chunk takes seconds on a small CPU).
FIRST_CHUNK = 128


class QueueFull(Exception):
    """No slot is free and MAX_QUEUE requests are already waiting."""


class PromptTooLong(ValueError):
    """A prompt that cannot fit one sequence of the context (or is empty)."""


class EngineStopped(Exception):
    """The engine is shutting down and takes no new work."""


@dataclass(frozen=True)
class EngineConfig:
    n_ctx_per_seq: int
    parallel: int
    n_batch: int
    n_ubatch: int
    n_threads: int
    n_threads_batch: int
    max_queue: int


@dataclass
class _Entry:
    """One slot's tokens in the batch being decoded."""

    slot: Slot
    tokens: list[int]
    start_pos: int
    logits_index: int | None
    is_prefill: bool


class Engine:
    def __init__(
        self, model: LlamaModel, config: EngineConfig, snapshots: SnapshotStore | None = None
    ) -> None:
        self.model = model
        self.config = config
        self.snapshots = snapshots if snapshots is not None and snapshots.enabled else None
        self.context = Context(
            model,
            n_ctx_per_seq=config.n_ctx_per_seq,
            n_seq=config.parallel,
            n_batch=config.n_batch,
            n_ubatch=config.n_ubatch,
            n_threads=config.n_threads,
            n_threads_batch=config.n_threads_batch,
        )
        self._batch = Batch(config.n_batch)
        self._slots = [Slot(seq=i) for i in range(config.parallel)]
        self._waiting: collections.deque[Handle] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        # Requests in the decode under way, and those of them reading their prompt.
        self._in_batch: set[Handle] = set()
        self._prefilling_in_batch: set[Handle] = set()
        self._stopping = False
        self.aborted_decodes = 0
        self.relocations = 0
        self.restores = 0  # prompts started from a kept state or another slot's cache
        # Prompt tokens read per second, recent steps weighing most (0 until a prompt is read).
        self.prompt_rate = 0.0
        self._worker = threading.Thread(target=self._run, name="engine", daemon=True)
        self._worker.start()

    # ---- the caller's side (any thread) ----

    def submit(self, request: GenerationRequest) -> Handle:
        if not 0 < len(request.prompt_tokens) < self.config.n_ctx_per_seq:
            raise PromptTooLong(
                f"the prompt has {len(request.prompt_tokens)} tokens; the context holds "
                f"{self.config.n_ctx_per_seq}"
            )
        handle = Handle(request, self._cancel)
        handle.prefetched = self._prefetch(request.prompt_tokens)
        with self._lock:
            if self._stopping:
                raise EngineStopped
            if not self._room():
                raise QueueFull
            self._waiting.append(handle)
            position = len(self._waiting) - sum(not slot.busy for slot in self._slots)
            if position > 0:
                handle.emit(Queued(position))
            self._wake.notify()
        return handle

    def has_room(self) -> bool:
        """Whether a request submitted now would likely be taken (a slot or a queue place).

        Read without the lock, as a hint: `submit` decides under it. The worker holds the lock
        while it admits a request (cache moves, sampler set-up), and refusals of a 64-client
        burst queued behind it for up to a second when this waited for the lock.
        """
        return not self._stopping and self._room()

    def _room(self) -> bool:
        free = sum(not slot.busy for slot in self._slots)
        return len(self._waiting) < free + self.config.max_queue

    def active_requests(self) -> set[str]:
        """Ids of the requests waiting or holding a slot: what the engine still works for."""
        with self._lock:
            held = {slot.handle for slot in self._slots if slot.handle is not None}
            return {handle.request.request_id for handle in (*self._waiting, *held)}

    @property
    def queue_depth(self) -> int:
        with self._lock:
            return len(self._waiting)

    @property
    def busy_slots(self) -> int:
        with self._lock:
            return sum(slot.busy for slot in self._slots)

    def cache_mismatches(self) -> list[str]:
        """Slots whose noted tokens disagree with what llama.cpp's cache holds: none, unless a
        cancelled or aborted step left cells behind or lost some. Meaningful while idle."""
        with self._lock:
            noted = [(slot.seq, len(slot.cached)) for slot in self._slots if not slot.busy]
        mismatches = []
        for seq, tokens in noted:
            span = self.context.cached_span(seq)
            if span != ((0, tokens - 1) if tokens else (-1, -1)):
                mismatches.append(f"seq {seq}: {tokens} tokens noted, the cache holds {span}")
        return mismatches

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stop taking work, end every stream with a `server_shutdown` failure, free the context.

        False if the worker did not stop within `timeout`: then nothing is freed, since it may
        still be inside llama.cpp.
        """
        with self._lock:
            self._stopping = True
            self.context.request_abort()
            self._wake.notify()
        self._worker.join(timeout)
        if self._worker.is_alive():
            return False
        if self.context.ptr is None:
            return True  # shut down before
        if self.snapshots is not None:
            self.keep_all()
            if not self.snapshots.flush(timeout):
                log.warning("some KV snapshots were not written before shutdown")
            self.snapshots.close()
        self._batch.close()
        self.context.close()
        return True

    def _cancel(self, handle: Handle) -> None:
        with self._lock:
            if handle in self._waiting:
                self._waiting.remove(handle)
                handle.emit(_cancelled_before_start(handle))
                self._announce_positions()
            elif self._abort_worthwhile():
                self.context.request_abort()
            elif self._in_batch and handle not in self._in_batch:
                self._free_outside_the_step(handle)
            self._wake.notify()

    def _free_outside_the_step(self, handle: Handle) -> None:
        """Free the slot of a request that the decode under way does not include: a prompt
        waiting for its turn while another prompt's chunk is read, a step that can take seconds
        on a small CPU. (Under the lock, while `_in_batch` is set: the worker touches only the
        step's slots until it takes the lock back, so the slot is safe to release here.)"""
        for slot in self._slots:
            if slot.handle is handle:
                self._finish(slot, "cancelled")

    def _abort_worthwhile(self) -> bool:
        """Abort the decode under way when a cancelled request is in it and the step is long:
        it reads a prompt chunk (a second or more on a small CPU). Then the slot is free at once,
        and the others lose only the part of the step already done (the chunk is read again).
        A step of single tokens (tens of ms) is let finish: aborting it would waste more."""
        if not any(h.cancelled for h in self._in_batch):
            return False
        return bool(self._prefilling_in_batch) or all(h.cancelled for h in self._in_batch)

    # ---- the worker ----

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._stopping:
                        break
                    self._admit()
                    if not any(slot.busy for slot in self._slots):
                        self._wake.wait(timeout=1.0)
                        continue
                self._finish_cancelled()
                if any(slot.busy for slot in self._slots):
                    self._step()
        except Exception:
            log.exception("engine worker failed")
            self._fail_everything("the inference engine failed; see the server log", "server_error")
            raise
        self._fail_everything("the server is shutting down", "server_shutdown")

    def _fail_everything(self, message: str, code: str) -> None:
        with self._lock:
            self._stopping = True
            waiting, self._waiting = list(self._waiting), collections.deque()
        for handle in waiting:
            handle.emit(Failed(message, code))
        for slot in self._slots:
            if slot.handle is not None:
                if slot.stream is not None and (tail := slot.stream.finish()):
                    slot.handle.emit(Delta(tail))
                slot.handle.emit(Failed(message, code))
                slot.release()

    def _admit(self) -> None:
        """Give waiting requests (FIFO) the free slot whose cache shares most of their prompt."""
        admitted = False
        while self._waiting:
            free = [slot for slot in self._slots if not slot.busy]
            if not free:
                break
            handle = self._waiting.popleft()
            try:
                sampler = Sampler(self.model, handle.request.sampling)
            except LlamaError as error:  # a grammar llama.cpp cannot parse
                handle.emit(Failed(str(error), "invalid_grammar"))
                continue
            prompt = handle.request.prompt_tokens
            chosen = pick_slot(free, prompt)
            self._keep(chosen, prompt)
            slot = self._beside_busy_slots(chosen, free, prompt)
            restored = self._restore_longer_prefix(handle, slot, prompt)
            # At least the last prompt token is decoded again: its logits give the first token.
            reused = min(common_prefix_length(slot.cached, prompt), len(prompt) - 1)
            self.context.forget(slot.seq, reused)
            for token in prompt[-PENALTY_HISTORY:]:
                sampler.accept(token)
            slot.assign(handle, reused, sampler)
            handle.emit(Started(cached_tokens=reused, restored_tokens=min(restored, reused)))
            admitted = True
        if admitted:
            self._announce_positions()

    def _beside_busy_slots(self, chosen: Slot, free: list[Slot], prompt: tuple[int, ...]) -> Slot:
        """The slot `slot_beside_busy` picks; the cache `pick_slot` chose to give up is still the
        one given up: the cache of the slot taken instead moves into its stream (a stream copy,
        about 10 ms for 48 MB)."""
        busy = {slot.seq for slot in self._slots if slot.busy}
        target = slot_beside_busy(chosen, free, busy, prompt)
        if target is chosen:
            return chosen
        if target.cached:
            # The copy leaves `target`'s stream as it was: the caller keeps the prefix the new
            # prompt shares with it and forgets the rest.
            self.context.copy_sequence(target.seq, chosen.seq)
            chosen.cached, chosen.last_used = list(target.cached), target.last_used
        self.relocations += 1
        return target

    # ---- kept caches ----

    def _prefetch(self, prompt: tuple[int, ...]) -> Match | None:
        """A kept state on disk worth restoring for `prompt`, read now, on the caller's thread,
        so that the worker only copies it into a slot. (RAM states are looked up at admission.)
        The slots' caches are read without the lock: a hint, the worker decides."""
        store = self.snapshots
        if store is None:
            return None
        match = store.best(prompt, at_least=RESTORE_MIN_GAIN)
        if match is None or match.tier == "ram":
            return None
        in_slots = max(common_prefix_length(list(slot.cached), prompt) for slot in self._slots)
        if match.shared < in_slots + RESTORE_MIN_GAIN:
            return None
        return store.load(match)

    def _keep(self, slot: Slot, prompt: tuple[int, ...] = ()) -> bool:
        """Save `slot`'s cache before a prompt that does not continue it takes the slot (no
        prompt: all of it is at stake). Whether it was kept."""
        store = self.snapshots
        lost = len(slot.cached) - common_prefix_length(slot.cached, prompt)
        if store is None or lost < KEEP_MIN_LOST or store.covers(slot.cached):
            return False
        try:
            return store.keep(slot.cached, self.context.save_sequence(slot.seq))
        except LlamaError as error:
            log.warning("could not keep the cache of slot %d: %s", slot.seq, error)
            return False

    def _restore_longer_prefix(self, handle: Handle, slot: Slot, prompt: tuple[int, ...]) -> int:
        """Give `slot` a longer start of `prompt` than its own cache has, if another slot's
        cache or a kept state holds one: the tokens restored (0 if none)."""
        own = common_prefix_length(slot.cached, prompt)
        donor, from_slot = None, 0
        for other in self._slots:
            if (
                other is not slot
                and (shared := common_prefix_length(other.cached, prompt)) > from_slot
            ):
                donor, from_slot = other, shared
        kept = handle.prefetched
        handle.prefetched = None
        if self.snapshots is not None:
            in_ram = self.snapshots.best(prompt, at_least=own + RESTORE_MIN_GAIN, in_ram_only=True)
            if in_ram is not None and (kept is None or in_ram.shared >= kept.shared):
                kept = in_ram
        from_kept = kept.shared if kept is not None else 0
        if max(from_slot, from_kept) < own + RESTORE_MIN_GAIN:
            return 0
        try:
            if donor is not None and from_slot >= from_kept:
                self.context.copy_sequence(donor.seq, slot.seq)
                slot.cached = list(donor.cached)
                restored = from_slot
            else:
                assert kept is not None and kept.data is not None and self.snapshots is not None
                if not self.context.restore_sequence(slot.seq, kept.data):
                    log.warning("llama.cpp refused a kept cache of %d tokens", kept.shared)
                    slot.cached = []
                    return 0
                slot.cached = kept.entry.tokens.tolist()
                self.snapshots.note_restored()
                restored = from_kept
        except LlamaError as error:
            log.warning("could not restore a cache into slot %d: %s", slot.seq, error)
            self.context.forget(slot.seq)
            slot.cached = []
            return 0
        self.restores += 1
        return restored

    def keep_all(self) -> int:
        """Keep every idle slot's cache (at shutdown, once the worker has stopped): the next
        start finds them on disk. Returns how many were kept."""
        if self.snapshots is None or self._worker.is_alive():
            return 0
        return sum(self._keep(slot) for slot in self._slots)

    def _announce_positions(self) -> None:
        for position, handle in enumerate(self._waiting, start=1):
            handle.emit(Queued(position))

    def _finish_cancelled(self) -> None:
        for slot in self._slots:
            if slot.handle is not None and slot.handle.cancelled:
                self._finish(slot, "cancelled")

    def _build_batch(self) -> list[_Entry]:
        batch = self._batch
        batch.clear()
        entries: list[_Entry] = []
        for slot in self._slots:
            if slot.busy and slot.next_token is not None:
                index = batch.add(slot.next_token, len(slot.cached), slot.seq, True)
                entries.append(_Entry(slot, [slot.next_token], len(slot.cached), index, False))
        budget = batch.capacity - batch.size
        prefilling = [slot for slot in self._slots if slot.busy and slot.pending]
        prefilling.sort(key=lambda s: s.handle.submitted_at if s.handle else 0.0)
        if prefilling and self.prompt_rate == 0:
            budget = min(budget, FIRST_CHUNK)  # times the reading soon, for progress reports
        elif prefilling and self._replies_before(prefilling[0], entries):
            in_time = int(self.prompt_rate * STEP_SECONDS_WHILE_DECODING)
            budget = min(budget, max(MIN_CHUNK, in_time))
        for slot in prefilling:
            if budget <= 0:
                break
            chunk = slot.pending[:budget]
            completes = len(chunk) == len(slot.pending)
            start = len(slot.cached)
            last_index: int | None = None
            for offset, token in enumerate(chunk):
                wants_logits = completes and offset == len(chunk) - 1
                added = batch.add(token, start + offset, slot.seq, wants_logits)
                if wants_logits:
                    last_index = added
            entries.append(_Entry(slot, chunk, start, last_index, True))
            budget -= len(chunk)
        return entries

    @staticmethod
    def _replies_before(reading: Slot, decoding: list[_Entry]) -> bool:
        """Whether a reply in the step was already streaming when the prompt `reading` came:
        its chunks are then kept short. (Replies of a burst that started after it are not
        waited for: a full chunk gets the burst's last first token soonest.)"""
        arrived = reading.handle.submitted_at if reading.handle else 0.0
        return any(
            entry.slot.first_token_at is not None and entry.slot.first_token_at < arrived
            for entry in decoding
        )

    def _step(self) -> None:
        entries = self._build_batch()
        if not entries:
            return
        reading = [entry for entry in entries if entry.is_prefill]
        for entry in reading:
            if entry.slot.handle is not None:
                total = len(entry.slot.handle.request.prompt_tokens)
                entry.slot.handle.emit(
                    Progress(entry.start_pos, total, len(entry.tokens), self.prompt_rate)
                )
        started = time.monotonic()
        with self._lock:
            self.context.clear_abort()
            self._in_batch = {e.slot.handle for e in entries if e.slot.handle is not None}
            self._prefilling_in_batch = {
                e.slot.handle for e in entries if e.is_prefill and e.slot.handle is not None
            }
            if self._stopping or self._abort_worthwhile():
                self.context.request_abort()
        status = self.context.decode(self._batch)
        with self._lock:
            self._in_batch = set()
            self._prefilling_in_batch = set()
        if status != DECODE_OK:
            self._undo(entries, status)
            return
        if reading:
            self._note_rate(sum(len(e.tokens) for e in reading), time.monotonic() - started)
            for entry in reading:
                handle = entry.slot.handle
                if entry.logits_index is not None and handle is not None:
                    total = len(handle.request.prompt_tokens)
                    handle.emit(Progress(total, total, 0, self.prompt_rate))
        for entry in entries:
            slot = entry.slot
            slot.cached.extend(entry.tokens)
            if entry.is_prefill:
                del slot.pending[: len(entry.tokens)]
            if entry.logits_index is not None and slot.sampler is not None:
                token = slot.sampler.sample(self.context, entry.logits_index)
                self._note_logprob(slot, entry.logits_index, token)
                self._on_token(slot, token)

    def _note_rate(self, tokens: int, seconds: float) -> None:
        if seconds <= 0 or tokens < 8:  # a step of a few tokens says little about prompt reading
            return
        rate = tokens / seconds
        previous = self.prompt_rate
        self.prompt_rate = rate if previous == 0 else previous + RATE_WEIGHT * (rate - previous)

    def _undo(self, entries: list[_Entry], status: int) -> None:
        """Drop what a failed or aborted decode may have written; retry or fail its requests."""
        for entry in entries:
            self.context.forget(entry.slot.seq, entry.start_pos)
        if status == DECODE_ABORTED:
            self.aborted_decodes += 1
            return  # cancelled slots finish next loop, the others decode again
        log.error("llama_decode returned %d for a batch of %d tokens", status, self._batch.size)
        for entry in entries:
            slot = entry.slot
            if slot.handle is not None:
                slot.handle.emit(Failed("the model could not process this request", "decode"))
                slot.cached = slot.cached[: entry.start_pos]
                slot.release()

    def _note_logprob(self, slot: Slot, batch_index: int, token: int) -> None:
        handle, sampler = slot.handle, slot.sampler
        assert handle is not None and sampler is not None
        top = handle.request.logprobs
        if top is None or self.model.is_end_of_generation(token):
            return
        logprob, best = sampler.logprobs(self.context, batch_index, token, top)
        slot.unsent_logprobs.append(
            TokenLogprob(
                self._token_choice(token, logprob), tuple(self._token_choice(t, p) for t, p in best)
            )
        )

    def _token_choice(self, token: int, logprob: float) -> TokenChoice:
        raw = self.model.token_bytes(token)
        return TokenChoice(raw.decode("utf-8", errors="replace"), raw, logprob)

    def _delta(self, slot: Slot, text: str) -> Delta:
        logprobs, slot.unsent_logprobs = tuple(slot.unsent_logprobs), []
        return Delta(text, logprobs)

    def _on_token(self, slot: Slot, token: int) -> None:
        if slot.first_token_at is None:
            slot.first_token_at = time.monotonic()
        handle, stream = slot.handle, slot.stream
        assert handle is not None and stream is not None
        if self.model.is_end_of_generation(token):
            self._finish(slot, "stop")
            return
        slot.completion.append(token)
        if text := stream.feed(self.model.token_bytes(token)):
            handle.emit(self._delta(slot, text))
        if stream.stopped:
            self._finish(slot, "stop")
        elif (
            len(slot.completion) >= handle.request.max_tokens
            or len(slot.cached) + 1 >= self.config.n_ctx_per_seq
        ):
            self._finish(slot, "length")
        else:
            slot.next_token = token

    def _finish(self, slot: Slot, reason: str) -> None:
        handle, stream = slot.handle, slot.stream
        assert handle is not None and stream is not None
        if reason != "cancelled" and (tail := stream.finish()):
            handle.emit(self._delta(slot, tail))
        now = time.monotonic()
        first = slot.first_token_at
        prompt_tokens = len(handle.request.prompt_tokens)
        timings = Timings(
            queued_ms=_ms(slot.started_at - handle.submitted_at),
            time_to_first_token_ms=_ms(first - handle.submitted_at) if first else 0.0,
            prompt_tokens_processed=prompt_tokens - slot.reused_tokens - len(slot.pending),
            prompt_ms=_ms((first or now) - slot.started_at),
            completion_tokens=len(slot.completion),
            decode_ms=_ms(now - first) if first else 0.0,
        )
        handle.emit(
            Finished(
                finish_reason=reason,
                text=stream.text,
                prompt_tokens=prompt_tokens,
                cached_tokens=slot.reused_tokens,
                completion_tokens=len(slot.completion),
                timings=timings,
                completion_token_ids=tuple(slot.completion),
                logprobs=tuple(slot.unsent_logprobs),
            )
        )
        slot.release()


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


def _cancelled_before_start(handle: Handle) -> Finished:
    waited = _ms(time.monotonic() - handle.submitted_at)
    return Finished(
        finish_reason="cancelled",
        text="",
        prompt_tokens=len(handle.request.prompt_tokens),
        cached_tokens=0,
        completion_tokens=0,
        timings=Timings(waited, 0.0, 0, 0.0, 0, 0.0),
    )
