"""Documents the tests build: a policy page in Chinese and English printed to PDF by Chromium, an
image-only page, and .docx files written as zip + WordprocessingML, valid and hostile."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

from pypdf import PdfWriter

POLICY_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>差旅政策</title>
<style>body { font-family: "Noto Sans CJK SC", sans-serif; width: 16cm }
.page { page-break-before: always }</style></head><body>
<h1>报销流程</h1>
<p>员工出差产生的费用，应在返回后十五个工作日内提交报销申请。所有报销必须附上原始发票，电子发票需打印并签字。
部门经理审批后，财务部门将在五个工作日内完成付款。This policy applies to all employees travelling on
company business, including contractors who have signed a travel agreement.</p>
<h2>住宿费</h2>
<p>住宿费标准：一线城市每晚不超过六百元，其他城市每晚不超过四百元。
超出标准的部分由员工自行承担，除非事先获得副总裁书面批准。
Hotel costs above the limit must be approved in writing before the trip.</p>
<h2 class="page">交通费</h2>
<p>Economy class is the default for flights under six hours.
乘坐高铁应选择二等座，出租车费用需提供行程单。</p>
<h1 class="page">IT Guide</h1>
<p>Reset your password at the self-service portal. If the portal is unavailable, call the help
desk at extension 4000, staffed from eight in the morning until six in the evening.</p>
</body></html>"""

IMAGE_ONLY_HTML = """<!doctype html><html><body><svg width="400" height="300">
<rect width="400" height="300" fill="#ddd"/><circle cx="200" cy="150" r="80" fill="#36c"/>
</svg></body></html>"""


def print_pdf(html: str, directory: Path, name: str) -> bytes:
    """The page printed to PDF by Debian's Chromium, the way a user's browser would."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    source, target = directory / f"{name}.html", directory / f"{name}.pdf"
    source.write_text(html, encoding="utf-8")
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--no-pdf-header-footer", f"--user-data-dir={directory / 'profile'}",
         f"--print-to-pdf={target}", source.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return target.read_bytes()


W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/word/document.xml"
 ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
<Override PartName="/word/styles.xml"
 ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/>
</Types>"""
PACKAGE_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Target="word/document.xml"
 Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>
</Relationships>"""
DOCUMENT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Target="styles.xml"
 Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"/>
</Relationships>"""
# Chinese Word names its heading styles "1", "2": the level comes from the style's name.
STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles xmlns:w="{W_NS}">
<w:style w:type="paragraph" w:styleId="1"><w:name w:val="heading 1"/></w:style>
<w:style w:type="paragraph" w:styleId="2"><w:name w:val="heading 2"/></w:style>
</w:styles>"""


def paragraph(text: str, style: str | None = None) -> str:
    properties = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    return f'<w:p>{properties}<w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'


def table(rows: list[list[str]]) -> str:
    cells = ("".join(f"<w:tc>{paragraph(cell)}</w:tc>" for cell in row) for row in rows)
    return "<w:tbl>" + "".join(f"<w:tr>{row}</w:tr>" for row in cells) + "</w:tbl>"


def document_xml(body: str, prolog: str = "") -> bytes:
    xml = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>{prolog}'
    return f'{xml}<w:document xmlns:w="{W_NS}"><w:body>{body}</w:body></w:document>'.encode()


def make_docx(document: bytes, styles: str = STYLES) -> bytes:
    """A minimal valid .docx: the package parts Word itself needs to open it."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", PACKAGE_RELS)
        archive.writestr("word/_rels/document.xml.rels", DOCUMENT_RELS)
        archive.writestr("word/styles.xml", styles)
        archive.writestr("word/document.xml", document)
    return out.getvalue()


POLICY_DOCX = make_docx(
    document_xml(
        paragraph("报销流程", "1")
        + paragraph("员工出差费用应在十五个工作日内报销。")
        + paragraph("住宿费", "2")
        + paragraph("一线城市每晚不超过六百元。")
        + table([["城市", "上限"], ["北京", "600 元"], ["成都", "400 元"]])
        + paragraph("IT Guide", "1")
        + paragraph("Reset your password at the portal.")
    )
)


def zip_bomb_docx(lie: bool = False) -> bytes:
    """5 MB of document.xml compressed about 1000:1; with `lie`, its headers claim 1,000 bytes."""
    docx = make_docx(document_xml(paragraph("a" * 5_000_000)))
    if not lie:
        return docx
    size = zipfile.ZipFile(io.BytesIO(docx)).getinfo("word/document.xml").file_size
    real, claimed = struct.pack("<I", size), struct.pack("<I", 1_000)
    return docx.replace(real, claimed)


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)


def rewritten_pdf(
    pdf: bytes, *, encrypt: tuple[str, str] | None = None, blank_pages: int = 0
) -> bytes:
    """The PDF written again by pypdf: encrypted (user, owner password) or padded."""
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    for _ in range(blank_pages):
        writer.add_blank_page(width=200, height=200)
    if encrypt:
        writer.encrypt(encrypt[0], encrypt[1], algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
