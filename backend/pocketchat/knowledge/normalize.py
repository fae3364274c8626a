"""Text normalization every reader applies (NFKC, CJK radicals as ideographs, one kind of line
break, no invisible characters), and CJK: the character class of scripts written without spaces.
"""

from __future__ import annotations

import re
import unicodedata

# CJK scripts (ideographs, kana, hangul, CJK punctuation): no spaces between words.
CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0003134f"
)

# NFKC maps the Kangxi radicals (U+2F00..) that PDF fonts put in place of ideographs ("⼯" for
# "工") but not the CJK Radicals Supplement: Chromium's PDFs of Noto CJK carry "⻔" for "门".
# The standalone forms below, from Unicode's EquivalentUnifiedIdeograph.txt.
_RADICALS_SUPPLEMENT = str.maketrans(
    "⺠⺜⺝⺩⻄⻅⻆⻈⻉⻋⻐⻑⻓⻔⻗⻘⻙⻚⻛⻜⻝⻠⻡⻢⻣⻤⻥⻦⻧⻨⻩⻪⻫⻬⻭⻮⻯⻰⻱⻲⺰⻁",
    "民日月王西见角讠贝车钅長长门雨青韦页风飞食饣首马骨鬼鱼鸟卤麦黄黾斉齐歯齿竜龙龜亀纟虎",
)
LINE_BREAK = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
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
    text = _INVISIBLE.sub("", LINE_BREAK.sub("\n", text))
    text = _SPACE_AROUND_NEWLINE.sub("\n", _SPACES.sub(" ", text))
    return _BLANK_LINES.sub("\n\n", text).strip()
