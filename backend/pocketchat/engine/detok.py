"""Streaming detokenization: token bytes in, whole characters out, stop strings held back.

A Chinese character or an emoji is often split across two or three byte-level tokens; the
incremental UTF-8 decoder keeps the unfinished bytes until the character is complete, so a
stream never carries U+FFFD for a split character and the deltas add up to the final text.
"""

from __future__ import annotations

import codecs


class TextStream:
    """Token bytes → text deltas; stop strings end the text and are never emitted."""

    def __init__(self, stop: tuple[str, ...] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stop = tuple(s for s in stop if s)
        self._held = ""  # text that may be the start of a stop string
        self.text = ""  # everything emitted so far
        self.stopped = False

    def feed(self, data: bytes) -> str:
        """Add a token's bytes; returns the text that is now safe to emit."""
        if self.stopped:
            return ""
        return self._release(self._decoder.decode(data))

    def finish(self) -> str:
        """End of generation: flush what was held (an unfinished byte sequence becomes U+FFFD)."""
        if self.stopped:
            return ""
        tail = self._release(self._decoder.decode(b"", final=True))
        tail += self._held
        self.text += self._held
        self._held = ""
        return tail

    def _release(self, new_text: str) -> str:
        pending = self._held + new_text
        for stop in self._stop:
            at = pending.find(stop)
            if at >= 0:
                pending = pending[:at]
                self.stopped = True
        if self.stopped:
            self._held = ""
            self.text += pending
            return pending
        keep = self._longest_stop_prefix_suffix(pending)
        emit, self._held = pending[: len(pending) - keep], pending[len(pending) - keep :]
        self.text += emit
        return emit

    def _longest_stop_prefix_suffix(self, text: str) -> int:
        """Length of the longest end of `text` that is the beginning of a stop string."""
        longest = 0
        for stop in self._stop:
            for length in range(min(len(stop) - 1, len(text)), longest, -1):
                if stop.startswith(text[-length:]):
                    longest = length
                    break
        return longest
