"""Chunks: each section of a document cut to a token budget by its structure (paragraphs, lines,
sentences, then words), with overlap inside a section; every chunk keeps its page or heading.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pocketchat.knowledge.document import Document
from pocketchat.knowledge.normalize import CJK

SECTION_SEPARATOR = "\n\n"

# The splits tried in turn on a span over budget. Extracted text is NFKC-normalized (！？；become
# ASCII) but a Document may be built by hand. A period ends a sentence only before whitespace.
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_LINE_BREAK = re.compile(r"\n")
_SENTENCE_END = re.compile(r"(?:[。!?;！？；]+|\.+(?=\s)|…+)[\"'”’」』)\]）]*")
_SPLITS = (_PARAGRAPH_BREAK, _LINE_BREAK, _SENTENCE_END)
_CJK_CHAR = re.compile(f"[{CJK}]")


@dataclass(frozen=True)
class Chunk:
    text: str
    page: int | None
    heading: str | None
    start: int  # character span of the chunk in document_text(document)
    end: int


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    tokens: int


def document_text(document: Document) -> str:
    """The sections joined: the text that Chunk.start and Chunk.end index."""
    return SECTION_SEPARATOR.join(section.text for section in document.sections)


def chunk_document(
    document: Document,
    count_tokens: Callable[[str], int],
    *,
    max_tokens: int = 256,
    overlap_tokens: int = 32,
) -> list[Chunk]:
    """Chunks of at most `max_tokens`, never across a section (a page or a heading).

    Each piece of text is counted once and chunks are packed from the counts, then each chunk
    is counted once more (a tokenizer is not exactly additive): about pieces + chunks calls.
    """
    if max_tokens < 1 or not 0 <= overlap_tokens < max_tokens:
        raise ValueError("need max_tokens >= 1 and 0 <= overlap_tokens < max_tokens")
    chunker = _Chunker(document_text(document), count_tokens, max_tokens, overlap_tokens)
    chunks: list[Chunk] = []
    start = 0
    for section in document.sections:
        end = start + len(section.text)
        chunks.extend(
            Chunk(chunker.text[first:last], section.page, section.heading, first, last)
            for first, last in chunker.section(start, end)
        )
        start = end + len(SECTION_SEPARATOR)
    return chunks


class _Chunker:
    def __init__(
        self, text: str, count_tokens: Callable[[str], int], max_tokens: int, overlap: int
    ) -> None:
        self.text = text
        self.count = count_tokens
        self.max_tokens = max_tokens
        self.overlap = overlap

    def section(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        """Spans of the chunks of one section: pieces packed greedily, with overlap."""
        start, end = self._trim(start, end)
        if start == end:
            return
        queue = deque(self._pieces(start, end, self.count(self.text[start:end]), 0))
        overlap_start, overlap_tokens = None, 0
        while queue:
            pieces = [queue.popleft()]
            tokens = overlap_tokens + pieces[0].tokens
            if tokens > self.max_tokens:
                overlap_start, tokens = None, pieces[0].tokens
            while queue and tokens + queue[0].tokens <= self.max_tokens:
                tokens += queue[0].tokens
                pieces.append(queue.popleft())
            first = pieces[0].start if overlap_start is None else overlap_start
            # Counted pieces add up to about the chunk's count; check it, and give back the
            # overlap, then the last pieces, if the tokenizer merged differently across a join.
            single = len(pieces) == 1 and first == pieces[0].start
            while not single and self.count(self.text[first : pieces[-1].end]) > self.max_tokens:
                if first != pieces[0].start:
                    first = pieces[0].start
                elif len(pieces) > 1:
                    queue.appendleft(pieces.pop())
                else:
                    break
            yield first, pieces[-1].end
            overlap_start, overlap_tokens = self._overlap(pieces)

    def _pieces(self, start: int, end: int, tokens: int, level: int) -> Iterator[_Piece]:
        """Spans within budget, split at the coarsest structure that gets them there."""
        if tokens <= self.max_tokens:
            yield _Piece(start, end, tokens)
            return
        if level == len(_SPLITS):
            yield from self._windows(start, end, tokens)
            return
        parts = self._split(start, end, _SPLITS[level])
        if len(parts) == 1:
            yield from self._pieces(start, end, tokens, level + 1)
            return
        for first, last in parts:
            yield from self._pieces(first, last, self.count(self.text[first:last]), level + 1)

    def _split(self, start: int, end: int, separator: re.Pattern[str]) -> list[tuple[int, int]]:
        """The span cut after each match of `separator`, each part trimmed, empty parts gone."""
        parts = []
        for match in separator.finditer(self.text, start, end):
            parts.append(self._trim(start, match.end()))
            start = match.end()
        parts.append(self._trim(start, end))
        return [(first, last) for first, last in parts if first < last]

    def _windows(self, start: int, end: int, tokens: int) -> Iterator[_Piece]:
        """The last resort for a sentence over budget: windows cut at word boundaries (any
        character in CJK), sized from the measured characters per token and leaving room for
        the overlap, so that consecutive windows still share some text."""
        budget = self.max_tokens - self.overlap
        chars_per_token = (end - start) / tokens
        while start < end:
            size = max(1, int(budget * chars_per_token * 0.9))
            cut = end if start + size >= end else self._word_boundary(start, start + size)
            tokens = self.count(self.text[start:cut])
            while tokens > budget and cut - start > 1:
                shrunk = start + max(1, (cut - start) * budget // tokens - 1)
                cut = self._word_boundary(start, shrunk)
                tokens = self.count(self.text[start:cut])
            chars_per_token = (cut - start) / max(1, tokens)
            piece_start, piece_end = self._trim(start, cut)
            if piece_start < piece_end:
                yield _Piece(piece_start, piece_end, tokens)
            start = self._trim(cut, end)[0]

    def _is_boundary(self, position: int) -> bool:
        """Whether a word may end at `position`: beside a space or a CJK character."""
        before, after = self.text[position - 1], self.text[position]
        return (
            before.isspace()
            or after.isspace()
            or bool(_CJK_CHAR.match(before))
            or bool(_CJK_CHAR.match(after))
        )

    def _word_boundary(self, start: int, limit: int) -> int:
        """The last word boundary in (start, limit], or limit if one word fills the span."""
        for cut in range(limit, start, -1):
            if cut >= len(self.text) or self._is_boundary(cut):
                return cut
        return limit

    def _next_word(self, position: int, end: int) -> int:
        """The first word boundary in [position, end]."""
        while position < end and not self._is_boundary(position):
            position += 1
        return position

    def _overlap(self, pieces: list[_Piece]) -> tuple[int | None, int]:
        """Where the next chunk starts to repeat the end of this one, and its tokens: whole
        trailing pieces within the overlap budget, else the tail of the last piece."""
        if not self.overlap:
            return None, 0
        tokens = 0
        start = None
        for piece in reversed(pieces):
            if tokens + piece.tokens > self.overlap:
                break
            tokens += piece.tokens
            start = piece.start
        if start is not None:
            return start, tokens
        last = pieces[-1]
        size = (last.end - last.start) * self.overlap // last.tokens
        while size > 0:
            start = self._trim(self._next_word(last.end - size, last.end), last.end)[0]
            tokens = self.count(self.text[start : last.end])
            if tokens <= self.overlap:
                return (start, tokens) if start < last.end else (None, 0)
            size = size * self.overlap // tokens - 1
        return None, 0

    def _trim(self, start: int, end: int) -> tuple[int, int]:
        while start < end and self.text[start].isspace():
            start += 1
        while end > start and self.text[end - 1].isspace():
            end -= 1
        return start, end
