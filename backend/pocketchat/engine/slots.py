"""A slot: one sequence of the shared KV cache, and the request it is serving, if any."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pocketchat.engine.detok import TextStream
from pocketchat.engine.llama import Sampler
from pocketchat.engine.snapshots import Match
from pocketchat.engine.types import Event, GenerationRequest, TokenLogprob


class Handle:
    """The caller's side of one generation: its own event channel and a way to stop it."""

    def __init__(self, request: GenerationRequest, on_cancel: Callable[[Handle], None]) -> None:
        self.request = request
        self.submitted_at = time.monotonic()
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._cancelled = threading.Event()
        self._on_cancel = on_cancel
        # A kept cache read from disk for this prompt before it was queued (engine._prefetch).
        self.prefetched: Match | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        if not self._cancelled.is_set():
            self._cancelled.set()
            self._on_cancel(self)

    def emit(self, event: Event) -> None:
        self._events.put(event)

    def next_event(self, timeout: float | None) -> Event | None:
        """The next event, or None when `timeout` seconds pass without one."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None


def common_prefix_length(left: list[int], right: tuple[int, ...] | list[int]) -> int:
    length = min(len(left), len(right))
    for index in range(length):
        if left[index] != right[index]:
            return index
    return length


@dataclass
class Slot:
    seq: int
    cached: list[int] = field(default_factory=list)  # tokens whose KV is in the cache
    last_used: float = 0.0
    handle: Handle | None = None
    pending: list[int] = field(default_factory=list)  # prompt tokens still to prefill
    next_token: int | None = None  # sampled, not yet decoded
    sampler: Sampler | None = None
    stream: TextStream | None = None
    completion: list[int] = field(default_factory=list)
    unsent_logprobs: list[TokenLogprob] = field(default_factory=list)  # not yet in a Delta
    reused_tokens: int = 0
    started_at: float = 0.0
    first_token_at: float | None = None

    @property
    def busy(self) -> bool:
        return self.handle is not None

    def assign(self, handle: Handle, reused: int, sampler: Sampler) -> None:
        prompt = handle.request.prompt_tokens
        self.handle = handle
        self.cached = self.cached[:reused]
        self.pending = list(prompt[reused:])
        self.next_token = None
        self.sampler = sampler
        self.stream = TextStream(handle.request.stop)
        self.completion = []
        self.unsent_logprobs = []
        self.reused_tokens = reused
        self.started_at = time.monotonic()
        self.first_token_at = None

    def release(self) -> None:
        if self.sampler is not None:
            self.sampler.close()
        self.handle = None
        self.sampler = None
        self.stream = None
        self.pending = []
        self.next_token = None
        self.last_used = time.monotonic()
