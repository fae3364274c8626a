"""A read document: sections of text with their source (PDF page or heading path), the refusal a
reader raises, and the builder that groups paragraphs under their headings.
"""

from __future__ import annotations

from dataclasses import dataclass

from pocketchat.knowledge.normalize import normalize


@dataclass(frozen=True)
class Section:
    """A run of text with one source location."""

    text: str
    page: int | None  # 1-based PDF page
    heading: str | None  # the nearest heading path, e.g. "报销流程 > 住宿费"


@dataclass(frozen=True)
class Document:
    filename: str
    media_type: str
    sections: tuple[Section, ...]


class UnreadableDocument(ValueError):
    """The message is one sentence a user can act on."""


class SectionBuilder:
    """Collects paragraphs under a heading path; a heading starts a new section.

    The heading's own line stays in the text (it is searchable); a section holding only headings
    is carried into the next one, so "# 报销流程" right before "## 住宿费" is not a chunk alone.
    """

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.path: list[tuple[int, str]] = []
        self.paragraphs: list[str] = []
        self.has_body = False

    def heading(self, level: int, text: str) -> None:
        text = normalize(text).replace("\n", " ")
        if not text:
            return
        if self.has_body:
            self._flush()
        while self.path and self.path[-1][0] >= level:
            self.path.pop()
        self.path.append((level, text))
        self.paragraphs.append(text)

    def paragraph(self, text: str) -> None:
        text = normalize(text)
        if text:
            self.paragraphs.append(text)
            self.has_body = True

    def _flush(self) -> None:
        heading = " > ".join(text for _, text in self.path) or None
        text = "\n\n".join(self.paragraphs)
        if text:
            self.sections.append(Section(text, None, heading))
        self.paragraphs, self.has_body = [], False

    def done(self) -> list[Section]:
        self._flush()
        return self.sections
