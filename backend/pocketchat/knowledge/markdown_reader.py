"""Markdown (.md): ATX and setext headings give each section its path; fences, tables, front
matter and inline markup are reduced to the words they carry.
"""

from __future__ import annotations

import re

from pocketchat.knowledge.document import Section, SectionBuilder
from pocketchat.knowledge.text_reader import decode

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]|$)")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)+\|?[ \t]*$")
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]+\S+")
# Markup that only adds noise to full-text search and to the snippets shown as citations:
# the words stay, link targets and image sources go (nobody asks about a URL's path).
# Each pattern stops at the next opener of its kind and every span is bounded: an unbounded
# lazy match is quadratic on a hostile line ("_a " * 10⁵ took 230 s). Single emphasis goes
# before double, so that "**a _b_ c**" loses both.
_INLINE = (
    (re.compile(r"^ {0,3}(?:>[ \t]?)+"), ""),
    (re.compile(r"!\[([^\[\]]{0,300})\]\([^()\s]{0,2000}\)"), r"\1"),
    (re.compile(r"\[([^\[\]]{1,300})\](?:\([^()\s]{0,2000}\)|\[[^\[\]]{0,300}\])"), r"\1"),
    (re.compile(r"<(https?://[^<>\s]{1,2000})>"), r"\1"),
    (re.compile(r"</?[A-Za-z][^<>]{0,500}>"), ""),
    (re.compile(r"(`{1,3})([^`]{1,1000})\1"), r"\2"),
    (re.compile(r"(?<![\w*])([*_])(?=[^\s*_])([^*_]{1,300})(?<=\S)\1(?![\w*])"), r"\2"),
    (re.compile(r"(\*\*|__)(?=[^\s*_])([^*_]{1,300})(?<=\S)\1"), r"\2"),
    (re.compile(r"~~([^~]{1,300})~~"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])"), r"\1"),
)
_MARKUP = re.compile(r"[>!\[<`*_~\\]")


def _markdown_inline(line: str) -> str:
    stripped = line.strip()
    if stripped.startswith("|"):  # a table row: the cells, without the outer pipes
        line = stripped[1:-1] if stripped.endswith("|") and len(stripped) > 1 else stripped[1:]
    if _MARKUP.search(line):
        for pattern, replacement in _INLINE:
            line = pattern.sub(replacement, line)
    return line


def read_markdown(data: bytes, name: str) -> list[Section]:
    sections = SectionBuilder()
    text = decode(data, name)
    # YAML front matter (title, tags) is kept as a plain paragraph, not read as a "---" heading.
    front_matter = _FRONT_MATTER.match(text)
    if front_matter:
        sections.paragraph(front_matter.group(1))
        text = text[front_matter.end() :]
    lines: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
        opener = _FENCE.match(line)
        if fence is not None:
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                fence = None
            else:
                lines.append(line)
            continue
        if opener:
            fence = opener.group(1)
            continue
        heading = _ATX_HEADING.match(line)
        if heading:
            sections.paragraph("\n".join(lines))
            lines = []
            title = line[heading.end() :].strip()
            if title.rstrip("#") != title and title.rstrip("#")[-1:] in ("", " ", "\t"):
                title = title.rstrip("#")  # the optional closing sequence: "## Title ##"
            sections.heading(len(heading.group(1)), _markdown_inline(title))
        elif len(lines) == 1 and line.strip() and _SETEXT_UNDERLINE.match(line):
            sections.heading(1 if line.strip()[0] == "=" else 2, lines.pop())
        elif not line.strip() or _THEMATIC_BREAK.match(line):
            sections.paragraph("\n".join(lines))
            lines = []
        elif not (_TABLE_RULE.match(line) or _LINK_DEFINITION.match(line)):
            lines.append(_markdown_inline(line))
    sections.paragraph("\n".join(lines))
    return sections.done()
