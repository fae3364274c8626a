"""Documents in: a .txt, .md, .html, .pdf, .docx or .csv file read, by its format's reader
(*_reader.py), into normalized sections; every refusal is an UnreadableDocument with one sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from pocketchat.knowledge.csv_reader import read_csv
from pocketchat.knowledge.document import Document, Section, UnreadableDocument
from pocketchat.knowledge.docx_reader import read_docx
from pocketchat.knowledge.html_reader import read_html
from pocketchat.knowledge.markdown_reader import read_markdown
from pocketchat.knowledge.pdf_reader import read_pdf
from pocketchat.knowledge.text_reader import read_text

_Reader = Callable[[bytes, str], Iterable[Section]]
FORMATS: dict[str, tuple[str, _Reader]] = {
    ".txt": ("text/plain", read_text),
    ".md": ("text/markdown", read_markdown),
    ".markdown": ("text/markdown", read_markdown),
    ".html": ("text/html", read_html),
    ".htm": ("text/html", read_html),
    ".pdf": ("application/pdf", read_pdf),
    ".docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        read_docx,
    ),
    ".csv": ("text/csv", read_csv),
}


def _display_name(filename: str) -> str:
    """The file's own name, printable and short, for messages."""
    base = re.split(r"[/\\]", filename)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip() or "the file"
    return base if len(base) <= 80 else base[:77] + "..."


def extract(data: bytes, filename: str) -> Document:
    """The document's text as normalized sections; UnreadableDocument says why not."""
    name = _display_name(filename)
    stem, dot, extension = name.rpartition(".")
    suffix = f".{extension.lower()}" if dot and stem else ""
    if suffix not in FORMATS:
        supported = ", ".join(sorted(set(FORMATS) - {".markdown"}))
        kind = f"file type {suffix}" if suffix else "file type (no extension)"
        raise UnreadableDocument(f"{name} has an unsupported {kind}; supported: {supported}.")
    if not data.strip():
        raise UnreadableDocument(f"{name} is empty.")
    media_type, read = FORMATS[suffix]
    sections = tuple(section for section in read(data, name) if section.text)
    if not sections:
        raise UnreadableDocument(f"{name} contains no text.")
    return Document(filename, media_type, sections)
