"""Documents in: .txt, .md, .html, .pdf, .docx and .csv read into normalized sections, each with
its source (PDF page or heading path). Every refusal is an UnreadableDocument with one sentence.
"""

from __future__ import annotations

import csv
import io
import re
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from itertools import pairwise
from typing import ClassVar
from xml.etree import ElementTree
from xml.parsers import expat

from pypdf import PdfReader

MAX_PDF_PAGES = 2_000
PDF_TIME_LIMIT_SECONDS = 120.0
MAX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024
# Word's XML compresses about 10:1; a zip bomb compresses 1000:1 and more.
MAX_COMPRESSION_RATIO = 100
CSV_SECTION_CHARS = 800

# CJK scripts (ideographs, kana, hangul, CJK punctuation): no spaces between words.
CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0003134f"
)


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


# NFKC maps the Kangxi radicals (U+2F00..) that PDF fonts put in place of ideographs ("⼯" for
# "工") but not the CJK Radicals Supplement: Chromium's PDFs of Noto CJK carry "⻔" for "门".
# The standalone forms below, from Unicode's EquivalentUnifiedIdeograph.txt.
_RADICALS_SUPPLEMENT = str.maketrans(
    "⺠⺜⺝⺩⻄⻅⻆⻈⻉⻋⻐⻑⻓⻔⻗⻘⻙⻚⻛⻜⻝⻠⻡⻢⻣⻤⻥⻦⻧⻨⻩⻪⻫⻬⻭⻮⻯⻰⻱⻲⺰⻁",
    "民日月王西见角讠贝车钅長长门雨青韦页风飞食饣首马骨鬼鱼鸟卤麦黄黾斉齐歯齿竜龙龜亀纟虎",
)
_LINE_BREAK = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
# Control characters, lone surrogates, zero-width and bidi format characters.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
_SPACES = re.compile(r"[ \t]+")
_SPACE_AROUND_NEWLINE = re.compile(r" ?\n ?")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize(text: str) -> str:
    """NFKC, one kind of line break, no invisible characters, single spaces, no double blank."""
    text = unicodedata.normalize("NFKC", text).translate(_RADICALS_SUPPLEMENT)
    text = _INVISIBLE.sub("", _LINE_BREAK.sub("\n", text))
    text = _SPACE_AROUND_NEWLINE.sub("\n", _SPACES.sub(" ", text))
    return _BLANK_LINES.sub("\n\n", text).strip()


class _Sections:
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


def _decode(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return _LINE_BREAK.sub("\n", text)
    raise UnreadableDocument(
        f"{name} is not UTF-8 or GB18030 text; save it as UTF-8 and upload it again."
    )


def _read_text(data: bytes, name: str) -> list[Section]:
    return [Section(normalize(_decode(data, name)), None, None)]


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


def _read_markdown(data: bytes, name: str) -> list[Section]:
    sections = _Sections()
    text = _decode(data, name)
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
        self.sections = _Sections()
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


def _read_html(data: bytes, name: str) -> list[Section]:
    parser = _HtmlText()
    parser.feed(_UNCLOSED_TAG.sub("&lt;", _decode(data, name)))
    return parser.done()


def _read_csv(data: bytes, name: str) -> list[Section]:
    """Each row as "header: value; header: value" lines, so every chunk of rows keeps its header;
    sections of about CSV_SECTION_CHARS, located by their spreadsheet rows ("rows 2-14")."""
    text = _decode(data, name)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], ",;\t|")
    except csv.Error:
        dialect = csv.excel
    sections: list[Section] = []
    lines: list[str] = []
    chars = 0
    first_row = last_row = 2
    try:
        rows = csv.reader(io.StringIO(text), dialect)
        header = [normalize(cell).replace("\n", " ") for cell in next(rows, [])]
        for row_number, row in enumerate(rows, start=2):
            names = header + [f"column {index}" for index in range(len(header) + 1, len(row) + 1)]
            line = normalize(
                "; ".join(
                    f"{key or f'column {index}'}: {value}"
                    for index, (key, value) in enumerate(zip(names, row, strict=False), start=1)
                    if value.strip()
                )
            ).replace("\n", " ")
            if line:
                lines.append(line)
                chars += len(line)
                last_row = row_number
            if chars >= CSV_SECTION_CHARS:
                sections.append(_csv_section(lines, first_row, row_number))
                lines, chars, first_row = [], 0, row_number + 1
    except csv.Error as error:
        raise UnreadableDocument(f"{name} is not a readable CSV file ({error}).") from None
    if lines:
        sections.append(_csv_section(lines, first_row, last_row))
    if not sections and any(header):
        sections.append(Section(" | ".join(header), None, "row 1"))
    return sections


def _csv_section(lines: list[str], first_row: int, last_row: int) -> Section:
    rows = f"row {first_row}" if first_row == last_row else f"rows {first_row}-{last_row}"
    return Section("\n".join(lines), None, rows)


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


def _read_pdf(data: bytes, name: str) -> list[Section]:
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
    sections = _Sections()
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


def _read_docx(data: bytes, name: str) -> list[Section]:
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


_Reader = Callable[[bytes, str], Iterable[Section]]
FORMATS: dict[str, tuple[str, _Reader]] = {
    ".txt": ("text/plain", _read_text),
    ".md": ("text/markdown", _read_markdown),
    ".markdown": ("text/markdown", _read_markdown),
    ".html": ("text/html", _read_html),
    ".htm": ("text/html", _read_html),
    ".pdf": ("application/pdf", _read_pdf),
    ".docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _read_docx,
    ),
    ".csv": ("text/csv", _read_csv),
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
