"""The reply's text split as it streams: reasoning (a `<think>` block at its start), content, and
tool calls (`<tool_call>` blocks); one parser for streamed and whole replies alike.

A tag may arrive split over several tokens: text that could be the start of one is held back
until the next delta says. A call that does not read as one the request allows stays content.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TypeVar

from pocketchat.chat.tools import CALL_CLOSING, CALL_OPENING, CallReader
from pocketchat.context.tools import ToolCall
from pocketchat.engine.types import Delta, Finished, TokenLogprob

THINK_OPENING, THINK_CLOSING = "<think>", "</think>"
Other = TypeVar("Other")


@dataclass(frozen=True)
class ReplyDelta:
    """A piece of the reply; `first_call` is the index in the reply of `tool_calls[0]`."""

    content: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    first_call: int = 0
    logprobs: tuple[TokenLogprob, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.content or self.reasoning or self.tool_calls)


@dataclass
class _Pieces:
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)


class OutputParser:
    """Feed it the reply's text deltas, then `finish()`; each returns what is now certain."""

    def __init__(
        self, calls: CallReader | None = None, *, reasoning: bool = False,
        thinking_open: bool = False,
    ) -> None:  # fmt: skip
        self._calls = calls
        # "start" (a think block may open), "reasoning", "content" or "call"
        self._state = "reasoning" if thinking_open else "start" if reasoning else "content"
        self._pending = ""  # text not given out yet
        self._strip = thinking_open  # drop the whitespace that opens the next part
        self.tool_calls: list[ToolCall] = []

    def feed(self, text: str) -> ReplyDelta:
        self._pending += text
        return self._drain(final=False)

    def finish(self) -> ReplyDelta:
        """The end of the reply: what was held back, an unfinished call as content."""
        return self._drain(final=True)

    def _drain(self, final: bool) -> ReplyDelta:
        pieces = _Pieces()
        first_call = len(self.tool_calls)
        while self._step(pieces, final):
            pass
        self.tool_calls += pieces.calls
        return ReplyDelta(
            "".join(pieces.content), "".join(pieces.reasoning), tuple(pieces.calls), first_call
        )

    def _step(self, pieces: _Pieces, final: bool) -> bool:
        """Take what the state can from the pending text; True when the state changed."""
        if self._state == "start":
            return self._start(final)
        if self._state == "reasoning":
            return self._reasoning(pieces, final)
        if self._state == "call":
            return self._call(pieces, final)
        return self._content(pieces, final)

    def _start(self, final: bool) -> bool:
        text = self._pending.lstrip()
        if text.startswith(THINK_OPENING):
            self._pending = text[len(THINK_OPENING) :]
            self._state, self._strip = "reasoning", True
            return True
        if not final and THINK_OPENING.startswith(text):
            return False
        self._state = "content"
        return True

    def _reasoning(self, pieces: _Pieces, final: bool) -> bool:
        at = self._pending.find(THINK_CLOSING)
        if at < 0:
            pieces.reasoning.append(self._release(THINK_CLOSING, final))
            return False
        pieces.reasoning.append(self._before(at))
        self._pending = self._pending[at + len(THINK_CLOSING) :]
        self._state, self._strip = "content", True
        return True

    def _content(self, pieces: _Pieces, final: bool) -> bool:
        calls = self._calls
        if calls is None or (self.tool_calls and not calls.parallel):
            pieces.content.append(self._release(None, final))
            return False
        at = self._pending.find(CALL_OPENING)
        if at < 0:
            pieces.content.append(self._release(CALL_OPENING, final))
            return False
        pieces.content.append(self._before(at))  # whitespace around a call is no content
        self._pending = self._pending[at:]
        self._state = "call"
        return True

    def _call(self, pieces: _Pieces, final: bool) -> bool:
        end = self._pending.find(CALL_CLOSING)
        if end < 0:
            if final:  # cut short (max_tokens): what was written is all there is
                pieces.content.append(self._pending)
                self._pending = ""
            return False
        raw = self._pending[: end + len(CALL_CLOSING)]
        assert self._calls is not None
        call = self._calls.read(raw[len(CALL_OPENING) : end])
        if call is None:
            pieces.content.append(raw)
        else:
            pieces.calls.append(call)
        self._pending = self._pending[len(raw) :]
        self._state, self._strip = "content", True
        return True

    def _before(self, at: int) -> str:
        """The pending text before a tag that starts at `at`, without whitespace around it."""
        text = self._pending[:at]
        return (text.lstrip() if self._strip else text).rstrip()

    def _release(self, tag: str | None, final: bool) -> str:
        """The pending text that is certain now: all of it at the end; otherwise not what may
        start `tag`, nor (when a tag is watched) trailing whitespace that may precede it."""
        text = self._pending
        if self._strip:
            text = text.lstrip()
            self._strip = not text
        if final or tag is None:
            self._pending = ""
            return text
        ready = text[: len(text) - _tag_start(text, tag)].rstrip()
        self._pending = text[len(ready) :]
        return ready


def _tag_start(text: str, tag: str) -> int:
    """The length of the longest end of `text` that begins `tag`."""
    for length in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:length]):
            return length
    return 0


def relay(
    events: Iterator[Other | Delta | Finished], parser: OutputParser
) -> Iterator[Other | ReplyDelta | Finished]:
    """The run's events with the engine's text deltas parsed into reply pieces. Logprobs go
    with the next piece given out; a reply that called tools finishes with "tool_calls"."""
    logprobs: tuple[TokenLogprob, ...] = ()
    for event in events:
        if isinstance(event, Delta):
            piece = parser.feed(event.text)
            logprobs += event.logprobs
        elif isinstance(event, Finished):
            piece = parser.finish()
            if not piece.empty:
                yield replace(piece, logprobs=logprobs)
                logprobs = ()
            called = parser.tool_calls and event.finish_reason == "stop"
            yield replace(
                event,
                finish_reason="tool_calls" if called else event.finish_reason,
                logprobs=logprobs + event.logprobs,
            )
            continue
        else:
            yield event
            continue
        if not piece.empty:
            yield replace(piece, logprobs=logprobs)
            logprobs = ()
