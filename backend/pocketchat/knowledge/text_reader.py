"""Plain text (.txt) and the decoding every text format shares: UTF-8, UTF-16 by its byte order
mark, GB18030.
"""

from __future__ import annotations

from pocketchat.knowledge.document import Section, UnreadableDocument
from pocketchat.knowledge.normalize import LINE_BREAK, normalize


def decode(data: bytes, name: str) -> str:
    """The file's text with one kind of line break; UnreadableDocument if it is not text."""
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
        return LINE_BREAK.sub("\n", text)
    raise UnreadableDocument(
        f"{name} is not UTF-8 or GB18030 text; save it as UTF-8 and upload it again."
    )


def read_text(data: bytes, name: str) -> list[Section]:
    return [Section(normalize(decode(data, name)), None, None)]
