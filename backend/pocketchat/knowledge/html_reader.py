"""HTML (.html, .htm): the visible text as paragraphs under their h1-h6 headings."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import ClassVar

from pocketchat.knowledge.document import Section, SectionBuilder
from pocketchat.knowledge.text_reader import decode


class _HtmlText(HTMLParser):
    """Visible text of an HTML page as paragraphs and h1-h6 headings."""

    SKIPPED = frozenset(("script", "style", "noscript", "template", "title", "svg", "iframe",
                         "object", "canvas", "math"))  # fmt: skip
    PARAGRAPH = frozenset(("p", "div", "section", "article", "header", "footer", "main", "aside",
                           "nav", "blockquote", "pre", "ul", "ol", "dl", "table", "figure",
                           "form", "address", "details", "fieldset", "hr", "body"))  # fmt: skip
    LINE = frozenset(("br", "li", "tr", "dt", "dd", "caption", "figcaption", "summary", "option"))
    HEADINGS: ClassVar[dict[str, int]] = {f"h{level}": level for level in range(1, 7)}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections = SectionBuilder()
        self.text: list[str] = []
        self.skipping = 0
        self.preformatted = 0
        self.heading_level = 0
        self.row_cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIPPED:
            self.skipping += 1
        elif tag in self.HEADINGS:
            self._paragraph()
            self.heading_level = self.HEADINGS[tag]
        elif tag in ("td", "th"):
            self.text.append(" | " if self.row_cells else "")
            self.row_cells += 1
        elif tag in self.PARAGRAPH or tag in self.LINE:
            self.text.append("\n\n" if tag in self.PARAGRAPH else "\n")
        if tag == "tr":
            self.row_cells = 0
        elif tag == "pre":
            self.preformatted += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.HEADINGS and self.heading_level:
            self.sections.heading(self.heading_level, "".join(self.text))
            self.text, self.heading_level = [], 0
        elif tag in self.PARAGRAPH:
            self.text.append("\n\n")
        if tag == "pre":
            self.preformatted = max(0, self.preformatted - 1)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if not self.preformatted:
            data = re.sub(r"\s+", " ", data)
            # Indentation between block tags must not turn a line break into a blank line.
            if data == " " and (not self.text or self.text[-1].endswith("\n")):
                return
        self.text.append(data)

    def _paragraph(self) -> None:
        for paragraph in re.split(r"\n[ \t]*\n", "".join(self.text)):
            self.sections.paragraph(paragraph)
        self.text = []

    def done(self) -> list[Section]:
        self.close()
        if self.heading_level:
            self.sections.heading(self.heading_level, "".join(self.text))
            self.text = []
        self._paragraph()
        return self.sections.done()


# Python 3.11's html.parser rescans to the end for each "<" that opens no complete tag ("<a" * 500k
# took 580 s, CVE-2025-6069): such a "<" is text, so it is escaped before parsing.
_UNCLOSED_TAG = re.compile(r"<(?=[^<>]*(?:<|\Z))")


def read_html(data: bytes, name: str) -> list[Section]:
    parser = _HtmlText()
    parser.feed(_UNCLOSED_TAG.sub("&lt;", decode(data, name)))
    return parser.done()
