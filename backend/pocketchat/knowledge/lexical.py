"""Search terms for full-text ranking: Chinese cut into words by jieba, other words lowercased.

Both stores index `document_terms(text)` (space-separated terms), so neither engine's own
tokenizer has to understand Chinese, and a question is cut the same way as the documents.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from typing import Any

# CJK ideographs (Extension A, the basic block, compatibility ideographs): what jieba cuts.
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# Letters and digits: the same runs that SQLite's unicode61 tokenizer keeps as one token.
_WORD = re.compile(r"[^\W_]+")
# A base64 blob or a hash is no search term, and PostgreSQL refuses lexemes over 2 KB.
MAX_TERM_CHARS = 64

STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "的",
        "地",
        "得",
        "了",
        "着",
        "过",
        "是",
        "在",
        "和",
        "与",
        "及",
        "或",
        "也",
        "都",
        "就",
        "而",
        "且",
        "把",
        "被",
        "让",
        "给",
        "对",
        "从",
        "向",
        "于",
        "以",
        "之",
        "其",
        "这",
        "那",
        "这个",
        "那个",
        "这些",
        "那些",
        "什么",
        "怎么",
        "怎样",
        "如何",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "嘛",
        "哪",
        "哪些",
        "我",
        "你",
        "您",
        "他",
        "她",
        "它",
        "我们",
        "你们",
        "他们",
        "有",
        "个",
        "能",
        "会",
        "要",
        "可以",
        "请问",
    ]
)

_lock = threading.Lock()
_tokenizer: Any = None  # jieba.Tokenizer, loaded on the first Chinese text


def _jieba() -> Any:
    """jieba's tokenizer, loaded once: measured 0.7 s and 84 MB of RSS with its cache in the
    temp directory (2.1 s the first time, which builds the cache), so English-only deployments
    never pay it."""
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)  # it logs its dictionary loading at DEBUG
            jieba.dt.initialize()
            _tokenizer = jieba.dt
        return _tokenizer


def _split_without_whole(tokenizer: Any, word: str) -> list[str]:
    """The most likely cut of a dictionary word into smaller words (住宿费 → 住宿 费), from
    jieba's own word graph with the whole-word edge removed."""
    graph = tokenizer.get_DAG(word)
    graph[0] = [end for end in graph[0] if end != len(word) - 1] or [0]
    route: dict[int, tuple[float, int]] = {}
    tokenizer.calc(word, graph, route)
    parts, begin = [], 0
    while begin < len(word):
        end = route[begin][1] + 1
        parts.append(word[begin:end])
        begin = end
    return parts


def _chinese_terms(run: str) -> list[str]:
    """jieba's search mode (each word, and the dictionary words of 2 and 3 characters inside
    it: 住宿费 → 住宿 宿费 住宿费) plus the word's cut into its parts, which adds the 费 that
    search mode leaves out, so a question about 费用 still meets 住宿费."""
    tokenizer = _jieba()
    found: list[str] = []
    for word in tokenizer.cut(run):
        pieces: list[str] = []
        for size in (2, 3):
            if len(word) > size:
                grams = (word[i : i + size] for i in range(len(word) - size + 1))
                pieces += [gram for gram in grams if tokenizer.FREQ.get(gram)]
        if len(word) > 2:
            pieces += _split_without_whole(tokenizer, word)
        pieces.append(word)
        found += dict.fromkeys(pieces)  # each once per word, in order
    return found


def terms(text: str) -> list[str]:
    """The search terms of a text, in order: Chinese words (and their parts), other words
    and numbers casefolded; punctuation and function words (的 了 是, the a of) dropped."""
    text = unicodedata.normalize("NFKC", text)
    found: list[str] = []
    position = 0
    for run in _HAN_RUN.finditer(text):
        found += _WORD.findall(text[position : run.start()].casefold())
        found += _chinese_terms(run.group())
        position = run.end()
    found += _WORD.findall(text[position:].casefold())
    return [term for term in found if term not in STOP_WORDS and len(term) <= MAX_TERM_CHARS]


def document_terms(text: str) -> str:
    """What both stores index: the terms, separated by spaces."""
    return " ".join(terms(text))
