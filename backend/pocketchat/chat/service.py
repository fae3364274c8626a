"""One chat completion from a plain request to events: context plan, summaries, the reply.

Knows nothing of HTTP: the route turns its events into SSE frames or one JSON body, and its
refusals (chat/errors.py) into statuses.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace
from typing import Any

from pocketchat.chat import sources
from pocketchat.chat.errors import (
    ChatRefused,
    ContextTooLong,
    InvalidField,
    KnowledgeUnavailable,
    NoSuchRun,
    ServerBusy,
    ShuttingDown,
)
from pocketchat.chat.output import OutputParser, ReplyDelta, relay
from pocketchat.chat.reply import prepare_reply, template_refusal
from pocketchat.chat.request import ChatRequest
from pocketchat.context import manager
from pocketchat.context.manager import ContextManager, Plan
from pocketchat.context.prompt import Message, TemplateUnusable
from pocketchat.engine.engine import Engine, EngineStopped, PromptTooLong, QueueFull
from pocketchat.engine.slots import Handle
from pocketchat.engine.types import (
    Delta,
    Failed,
    Finished,
    GenerationRequest,
    Progress,
    Queued,
    SamplerConfig,
    Started,
)
from pocketchat.knowledge.service import KnowledgeBase, Passage
from pocketchat.metrics import Metrics

log = logging.getLogger("pocketchat.requests")

# Summaries are greedy; the penalty keeps a small model from repeating a phrase.
SUMMARY_SAMPLING = SamplerConfig.greedy(repeat_penalty=1.1)


# The `code` of a refusal that comes after the stream began (a reply submitted after summaries).
_REFUSAL_CODES: dict[type[ChatRefused], str] = {
    ContextTooLong: "context_length_exceeded",
    ServerBusy: "server_busy",
    ShuttingDown: "server_shutdown",
}

# While a prompt is read, a progress status at least this often (seconds).
PROGRESS_SECONDS = 0.4


@dataclass(frozen=True)
class Status:
    state: str  # "queued", "summarizing", "generating", "prefill"
    queue_position: int | None = None
    messages: int | None = None
    # Prompt reading ("prefill", and "summarizing" while a summary's prompt is read).
    prompt_tokens_done: int | None = None
    prompt_tokens_total: int | None = None
    prompt_tokens_restored: int | None = None  # from a kept KV cache, not read again
    eta_ms: int | None = None


@dataclass
class PromptReading:
    """How far the engine has read a prompt, and an estimate in between its notes: a step reads
    up to N_BATCH tokens in one llama.cpp call (seconds on a small CPU), so the tokens inside the
    step under way are counted at the engine's recent rate, never beyond the step."""

    total: int
    restored: int
    done: int
    reading: int = 0
    rate: float = 0.0
    noted_at: float = 0.0
    reported_at: float = 0.0

    def note(self, progress: Progress, now: float) -> None:
        self.done, self.reading, self.rate = (
            progress.done,
            progress.reading,
            progress.tokens_per_second,
        )
        self.noted_at = now

    def due(self, now: float) -> bool:
        return now - self.reported_at >= PROGRESS_SECONDS

    def status(self, state: str, now: float, messages: int | None = None) -> Status:
        self.reported_at = now
        within = min(self.reading, int(self.rate * (now - self.noted_at))) if self.rate else 0
        done = min(self.done + within, self.total)
        eta = round((self.total - done) / self.rate * 1000) if self.rate else None
        return Status(
            state,
            messages=messages,
            prompt_tokens_done=done,
            prompt_tokens_total=self.total,
            prompt_tokens_restored=self.restored,
            eta_ms=eta,
        )


@dataclass(frozen=True)
class Sources:
    """The passages the reply was given, numbered as it cites them; first, before any text."""

    passages: tuple[Passage, ...]


RunEvent = Status | Sources | ReplyDelta | Finished | Failed
# Inside a run, before the reply's text is parsed into ReplyDeltas.
_Step = RunEvent | Delta


class ChatService:
    def __init__(
        self,
        engine: Engine,
        context: ContextManager,
        metrics: Metrics,
        reply_budget: int,
        knowledge: KnowledgeBase | None = None,
    ) -> None:
        self.engine = engine
        self.context = context
        self.metrics = metrics
        self.reply_budget = reply_budget
        self.knowledge = knowledge
        self._runs: dict[str, ChatRun] = {}
        self._lock = threading.Lock()

    def start(self, request: ChatRequest) -> ChatRun:
        self._check_logit_bias(request)
        try:
            request, options, parser = prepare_reply(
                request, self.context.prompt, self.engine.model.check_grammar
            )
        except InvalidField:
            self.metrics.requests.labels(outcome="rejected").inc()
            raise
        reply_budget = min(request.reply_limit or self.reply_budget, self.context.n_ctx)
        messages, passages = self._with_sources(request, reply_budget)
        try:
            plan, tokens = self.context.plan(
                messages, reply_budget, request.context_overflow, request.client_summary, options
            )
        except manager.ContextTooLong as error:
            self.metrics.requests.labels(outcome="rejected").inc()
            raise ContextTooLong(str(error), param="messages") from None
        except TemplateUnusable as error:
            self.metrics.requests.labels(outcome="rejected").inc()
            raise template_refusal(request, error) from None
        run = ChatRun(self, request, plan, tokens, reply_budget, passages, parser)
        with self._lock:
            self._runs[run.id] = run
        return run

    def _check_logit_bias(self, request: ChatRequest) -> None:
        n_vocab = self.engine.model.n_vocab
        for token, _ in request.sampling.logit_bias:
            if not 0 <= token < n_vocab:
                self.metrics.requests.labels(outcome="rejected").inc()
                message = f"logit_bias: token {token} is not in the vocabulary (0..{n_vocab - 1})"
                raise InvalidField(message, "logit_bias", "invalid_token")

    def _with_sources(
        self, request: ChatRequest, reply_budget: int
    ) -> tuple[list[Message], tuple[Passage, ...] | None]:
        """The messages with the retrieved passages before the question, and those passages
        (None when the request asked for no documents)."""
        if request.knowledge is None:
            return list(request.messages), None
        if self.knowledge is None:
            raise KnowledgeUnavailable(
                "this server has no knowledge base: its embedding model is not available"
            )
        found = sources.retrieve(self.knowledge, request.knowledge, request.messages)
        messages, kept = self.context.add_references(
            request.messages, sources.references(found), reply_budget
        )
        return messages, tuple(found[:kept])

    def check_room(self) -> None:
        """ServerBusy, counted, if a request arriving now would find the queue full: asked
        before the body is parsed and tokenized, work that would only delay the refusal."""
        if not self.engine.has_room():
            raise self._busy()

    def _busy(self) -> ServerBusy:
        self.metrics.requests.labels(outcome="rejected").inc()
        return ServerBusy("the server is busy: too many requests are waiting")

    def find(self, run_id: str) -> ChatRun:
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            raise NoSuchRun(f"no running completion {run_id}")
        return run

    def forget(self, run: ChatRun) -> None:
        with self._lock:
            self._runs.pop(run.id, None)

    def submit(self, request: GenerationRequest) -> Handle:
        try:
            return self.engine.submit(request)
        except QueueFull:
            raise self._busy() from None
        except PromptTooLong as error:
            self.metrics.requests.labels(outcome="rejected").inc()
            raise ContextTooLong(str(error)) from None
        except EngineStopped:
            raise ShuttingDown("the server is shutting down") from None


class ChatRun:
    def __init__(
        self,
        service: ChatService,
        request: ChatRequest,
        plan: Plan,
        tokens: list[int] | None,
        reply_budget: int,
        passages: tuple[Passage, ...] | None = None,
        parser: OutputParser | None = None,
    ) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.service = service
        self.request = request
        self.plan = plan
        self.reply_budget = reply_budget
        self.passages = passages
        self.parser = parser or OutputParser()
        self.prompt_tokens = 0
        self.summaries_written = 0
        self._cancelled = threading.Event()
        self._recorded = False
        self._handle: Handle | None = None
        self._started = time.monotonic()
        # Submit now, so a full queue is a 429 before any byte of the response is sent.
        if tokens is not None:
            self._handle = self._submit_reply(tokens)
        else:
            self._handle = self._submit_summary(plan.base_summary, 0)

    # ---- control ----

    def cancel(self) -> None:
        self._cancelled.set()
        if self._handle is not None:
            self._handle.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def close(self, wait_seconds: float = 2.0) -> None:
        """The client is gone: stop the work and account for it (outcome cancelled)."""
        self.cancel()
        handle = self._handle
        deadline = time.monotonic() + wait_seconds
        while not self._recorded and handle is not None and time.monotonic() < deadline:
            event = handle.next_event(0.05)
            if isinstance(event, Finished):
                self._record(replace(event, finish_reason="cancelled"), None)
            elif isinstance(event, Failed):
                self._record(None, event)
        if not self._recorded:
            # The engine has not confirmed yet (a slow step); it was cancelled all the same.
            self._recorded = True
            self.service.metrics.requests.labels(outcome="cancelled").inc()
            log.info("%s outcome=cancelled (not yet confirmed by the engine)", self.id)
        self.service.forget(self)

    # ---- events ----

    def events(self, poll_seconds: float) -> Iterator[RunEvent | None]:
        """Run to the end; yields None every `poll_seconds` without news (for heartbeats)."""
        try:
            yield from relay(self._steps(poll_seconds), self.parser)
        finally:
            self.service.forget(self)

    def _steps(self, poll_seconds: float) -> Iterator[_Step | None]:
        if self.passages is not None:
            yield Sources(self.passages)
        if self.plan.jobs:
            yield Status("summarizing", messages=self.plan.cut)
            if not (yield from self._write_summaries(poll_seconds)):
                return
            tokens = self.service.context.final_tokens(self.plan)
            try:
                self._handle = self._submit_reply(tokens)
            except ChatRefused as error:
                # The response has begun (the summaries' statuses): the refusal ends the stream
                # as a failure frame, not as a broken connection.
                failed = Failed(str(error), _REFUSAL_CODES.get(type(error), "server_error"))
                self._record(None, failed)
                yield failed
                return
            if self.cancelled:
                self._handle.cancel()
        yield from self._follow(self._handle, poll_seconds, forward=True)

    def _write_summaries(self, poll_seconds: float) -> Generator[_Step | None, None, bool]:
        jobs = self.plan.jobs
        previous = self.plan.base_summary
        for index, job in enumerate(jobs):
            if index > 0:
                self._handle = self._submit_summary(previous, index)
            finished = yield from self._follow(self._handle, poll_seconds, forward=False)
            if finished is None:
                return False
            previous = finished.text.strip()
            self.summaries_written += 1
            self.service.metrics.summaries.inc()
            last_of_cover = index == len(jobs) - 1 or jobs[index + 1].covers != job.covers
            self.service.context.record_summary(self.plan, job, previous, last_of_cover)
        return True

    def _follow(
        self, handle: Handle | None, poll_seconds: float, *, forward: bool
    ) -> Generator[_Step | None, None, Finished | None]:
        """Relay one engine request's events; returns its Finished (None if it did not finish).
        While its prompt is read, a progress status comes at least every PROGRESS_SECONDS."""
        assert handle is not None
        state = "prefill" if forward else "summarizing"
        messages = None if forward else self.plan.cut
        reading: PromptReading | None = None
        while True:
            wait = poll_seconds if reading is None else min(poll_seconds, PROGRESS_SECONDS)
            event = handle.next_event(wait)
            now = time.monotonic()
            if isinstance(event, Progress) and reading is not None:
                reading.note(event, now)
                if event.done >= event.total:  # read: the reply follows
                    yield reading.status(state, now, messages)
                    reading = None
                    continue
            if event is None or isinstance(event, Progress):
                if reading is not None and reading.due(now):
                    yield reading.status(state, now, messages)
                elif event is None:
                    yield None
            elif isinstance(event, Queued):
                yield Status("queued", queue_position=event.position)
            elif isinstance(event, Started):
                if forward:
                    yield Status("generating")
                total = len(handle.request.prompt_tokens)
                reading = PromptReading(total, event.restored_tokens, event.cached_tokens)
                yield reading.status(state, now, messages)
            elif isinstance(event, Delta):
                reading = None
                if forward:
                    yield event
            elif isinstance(event, Failed):
                self._record(None, event)
                yield event
                return None
            else:
                if not forward and event.finish_reason == "cancelled":
                    self._record(event, None)
                    return None
                if forward:
                    self._record(event, None)
                    yield event
                return event

    def _submit_reply(self, tokens: list[int]) -> Handle:
        self.prompt_tokens = len(tokens)
        max_tokens = min(self.reply_budget, self.service.context.n_ctx - len(tokens))
        return self.service.submit(
            GenerationRequest(self.id, tuple(tokens), max(1, max_tokens), self.request.sampling,
                              self.request.stop, logprobs=self.request.logprobs)
        )  # fmt: skip

    def _submit_summary(self, previous: str | None, index: int) -> Handle:
        context = self.service.context
        job = self.plan.jobs[index]
        tokens = context.summary_prompt(self.plan, previous, job)
        max_tokens = context.summary_max_tokens(self.plan.prompt_budget)
        return self.service.submit(
            GenerationRequest(f"{self.id}-summary-{index}", tuple(tokens), max_tokens,
                              SUMMARY_SAMPLING, internal=True)
        )  # fmt: skip

    # ---- reporting ----

    def context_report(self) -> dict[str, Any]:
        plan = self.plan
        summary = plan.summary
        summarized = plan.cut if plan.mode == "summarize" and plan.cut else 0
        return {
            "mode": plan.mode,
            "prompt_tokens": self.prompt_tokens,
            "n_ctx": self.service.context.n_ctx,
            "summarized_messages": summarized,
            "dropped_messages": plan.cut if plan.mode == "truncate" else 0,
            "summary": (
                {"covers": summary.covers, "hash": summary.hash, "text": summary.text}
                if summary and summarized
                else None
            ),
            "summaries_written": self.summaries_written,
        }

    def _record(self, finished: Finished | None, failed: Failed | None) -> None:
        if self._recorded:
            return
        self._recorded = True
        metrics = self.service.metrics
        if finished is not None:
            outcome = "cancelled" if finished.finish_reason == "cancelled" else "completed"
            metrics.observe_finished(outcome, finished)
            timings = finished.timings
            log.info(
                "%s outcome=%s prompt_tokens=%d cached=%d completion_tokens=%d "
                "ttft_ms=%.0f tokens_per_s=%.1f summarized=%d",
                self.id, outcome, finished.prompt_tokens, finished.cached_tokens,
                finished.completion_tokens, timings.time_to_first_token_ms,
                timings.decode_tokens_per_second, self.plan.cut,
            )  # fmt: skip
        elif failed is not None:
            metrics.requests.labels(outcome="error").inc()
            log.warning("%s outcome=error code=%s %s", self.id, failed.code, failed.message)
