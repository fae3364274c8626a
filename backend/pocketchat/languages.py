"""Which of the languages the product speaks a text is in: Chinese or English, by its script."""

from __future__ import annotations

import re

# CJK Unified Ideographs, Extension A and the compatibility block.
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def language_of(text: str) -> str:
    """ "zh" when more than a fifth of the letters are Chinese characters, else "en"."""
    letters = sum(ch.isalpha() for ch in text) or 1
    return "zh" if len(CJK.findall(text)) / letters > 0.2 else "en"
