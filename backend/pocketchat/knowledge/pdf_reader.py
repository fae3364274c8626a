"""PDF (.pdf): the text layer page by page, with the lines the PDF broke mid-sentence joined;
encrypted, damaged, oversized and image-only files refused.
"""

from __future__ import annotations

import io
import re
import time
from itertools import pairwise

from pypdf import PdfReader

from pocketchat.knowledge.document import Section, UnreadableDocument
from pocketchat.knowledge.normalize import CJK, normalize

MAX_PDF_PAGES = 2_000
PDF_TIME_LIMIT_SECONDS = 120.0


def _width(line: str) -> int:
    return len(line) + len(re.findall(f"[{CJK}]", line))


_LINE_ENDS_SENTENCE = re.compile(r"[.!?:;。…\"'”’)\]」』]$")
_LINE_STARTS_ITEM = re.compile(r"^(?:[-•·*▪●◦]|\d+[.)、]|[(]?[一二三四五六七八九十]+[、.)])")
_CJK_CHAR = re.compile(f"[{CJK}]")


def join_pdf_lines(text: str) -> str:
    """Joins the lines a PDF broke mid-sentence: with a space in Latin text, without one
    between CJK characters. A line that ends a sentence or is much shorter than the page's
    widest line (a heading, a paragraph's last line) ends its line in the result."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if not lines:
        return ""
    widest = max(map(_width, lines))
    joined = [lines[0]]
    for previous, line in pairwise(lines):
        ended = _LINE_ENDS_SENTENCE.search(previous) or _width(previous) < 0.7 * widest
        if ended or _LINE_STARTS_ITEM.match(line):
            joined.append(line)
        elif _CJK_CHAR.match(line[0]) or _CJK_CHAR.match(previous[-1]) or previous[-1] == "-":
            joined[-1] += line
        else:
            joined[-1] += " " + line
    return "\n".join(joined)


def read_pdf(data: bytes, name: str) -> list[Section]:
    if b"%PDF-" not in data[:1024]:
        raise UnreadableDocument(f"{name} is not a PDF (it does not start with %PDF).")
    deadline = time.monotonic() + PDF_TIME_LIMIT_SECONDS
    try:
        reader = PdfReader(io.BytesIO(data))
        # pypdf opens a PDF whose user password is empty; AES needs the `cryptography` package.
        if reader.is_encrypted and not _decrypts(reader):
            raise UnreadableDocument(
                f"{name} is an encrypted PDF; remove its password and upload it again."
            )
        page_count = len(reader.pages)
        if page_count > MAX_PDF_PAGES:
            raise UnreadableDocument(
                f"{name} has {page_count} pages; split it into files of at most {MAX_PDF_PAGES}."
            )
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            if time.monotonic() > deadline:
                raise UnreadableDocument(
                    f"{name} took more than {PDF_TIME_LIMIT_SECONDS:.0f} seconds to read; "
                    "split it into smaller files."
                )
            text = normalize(join_pdf_lines(normalize(page.extract_text())))
            if text:
                sections.append(Section(text, number, None))
    except UnreadableDocument:
        raise
    except Exception:
        # pypdf meets damaged files with any exception (KeyError, RecursionError, ...).
        raise UnreadableDocument(f"{name} is a damaged PDF that could not be read.") from None
    if not sections:
        raise UnreadableDocument(
            f"{name} has no text layer (a scanned or image-only PDF); run OCR first."
        )
    return sections


def _decrypts(reader: PdfReader) -> bool:
    try:
        return bool(reader.decrypt(""))
    except Exception:
        return False
