"""Word (.docx): paragraphs, tables and heading styles from the zip's WordprocessingML; zip bombs
and XML entity expansion refused.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from xml.etree import ElementTree
from xml.parsers import expat

from pocketchat.knowledge.document import Section, SectionBuilder, UnreadableDocument
from pocketchat.knowledge.normalize import normalize

MAX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024
# Word's XML compresses about 10:1; a zip bomb compresses 1000:1 and more.
MAX_COMPRESSION_RATIO = 100
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_HEADING_STYLE = re.compile(r"(?i)^heading\s*(\d)$")


def _zip_member(archive: zipfile.ZipFile, path: str, name: str, budget: int) -> bytes | None:
    """A member's bytes, refusing a zip bomb by its declared size and ratio and, while reading,
    by the bytes it really inflates to (a declared size can lie)."""
    try:
        info = archive.getinfo(path)
    except KeyError:
        return None
    bomb = (
        f"{name} expands far beyond its size "
        f"(a zip bomb or a document over {MAX_UNCOMPRESSED_BYTES // 2**20} MB)."
    )
    limit = min(budget, MAX_COMPRESSION_RATIO * max(info.compress_size, 10_000))
    if info.file_size > limit:
        raise UnreadableDocument(bomb)
    parts = []
    with archive.open(info) as member:
        while part := member.read(1 << 16):
            limit -= len(part)
            if limit < 0:
                raise UnreadableDocument(bomb)
            parts.append(part)
    return b"".join(parts)


def _parse_xml(xml: bytes, name: str) -> ElementTree.Element:
    """Parses with no document type declaration at all: WordprocessingML never has one, and
    entities declared in one are how billion-laughs expansion works."""

    def refuse(*_: object) -> None:
        raise UnreadableDocument(
            f"{name} contains an XML document type declaration, which no .docx has."
        )

    checker = expat.ParserCreate()
    checker.StartDoctypeDeclHandler = refuse
    checker.Parse(xml, True)
    return ElementTree.fromstring(xml)


def _heading_styles(styles: ElementTree.Element | None) -> dict[str, int]:
    """Style id -> heading level: Chinese Word names its heading styles "1", "2", ..."""
    levels: dict[str, int] = {}
    for style in styles.iter(f"{_W}style") if styles is not None else ():
        style_id = style.get(f"{_W}styleId", "")
        style_name = style.find(f"{_W}name")
        match = _HEADING_STYLE.match(
            style_name.get(f"{_W}val", "") if style_name is not None else ""
        )
        outline = style.find(f"{_W}pPr/{_W}outlineLvl")
        if match:
            levels[style_id] = int(match.group(1))
        elif outline is not None and outline.get(f"{_W}val", "").isdigit():
            levels[style_id] = int(outline.get(f"{_W}val", "0")) + 1
    return levels


def _docx_text(element: ElementTree.Element) -> str:
    parts = []
    for node in element.iter():
        if node.tag == f"{_W}t":
            parts.append(node.text or "")
        elif node.tag == f"{_W}tab":
            parts.append(" ")
        elif node.tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
    return "".join(parts)


def _docx_blocks(container: ElementTree.Element) -> Iterator[ElementTree.Element]:
    """Paragraphs and tables in reading order, through content controls (w:sdt)."""
    for child in container:
        if child.tag in (f"{_W}p", f"{_W}tbl"):
            yield child
        elif child.tag in (f"{_W}sdt", f"{_W}sdtContent", f"{_W}customXml"):
            yield from _docx_blocks(child)


def _docx_sections(document: ElementTree.Element, levels: dict[str, int]) -> list[Section]:
    sections = SectionBuilder()
    body = document.find(f"{_W}body")
    for block in _docx_blocks(body if body is not None else document):
        if block.tag == f"{_W}tbl":
            rows = (
                " | ".join(
                    normalize(" ".join(map(_docx_text, cell.iter(f"{_W}p"))))
                    for cell in row.findall(f"{_W}tc")
                )
                for row in block.findall(f"{_W}tr")
            )
            sections.paragraph("\n".join(rows))
            continue
        style = block.find(f"{_W}pPr/{_W}pStyle")
        outline = block.find(f"{_W}pPr/{_W}outlineLvl")
        level = levels.get(style.get(f"{_W}val", "") if style is not None else "")
        if level is None and outline is not None and outline.get(f"{_W}val", "").isdigit():
            level = int(outline.get(f"{_W}val", "0")) + 1
        if level is not None and level < 10:
            sections.heading(level, _docx_text(block))
        else:
            sections.paragraph(_docx_text(block))
    return sections.done()


def read_docx(data: bytes, name: str) -> list[Section]:
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnreadableDocument(
            f"{name} is an old .doc or a password-protected file; save it as .docx without "
            "a password and upload it again."
        )
    if not data.startswith(b"PK"):
        raise UnreadableDocument(f"{name} is not a .docx file (it is not a zip archive).")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            document = _zip_member(archive, "word/document.xml", name, MAX_UNCOMPRESSED_BYTES)
            if document is None:
                raise UnreadableDocument(
                    f"{name} is not a Word document (it has no word/document.xml)."
                )
            budget = MAX_UNCOMPRESSED_BYTES - len(document)
            styles = _zip_member(archive, "word/styles.xml", name, budget)
        levels = _heading_styles(_parse_xml(styles, name) if styles else None)
        return _docx_sections(_parse_xml(document, name), levels)
    except UnreadableDocument:
        raise
    except Exception:
        # zipfile and expat meet damaged files with BadZipFile, zlib.error, ExpatError, ...
        raise UnreadableDocument(f"{name} is a damaged .docx that could not be read.") from None
