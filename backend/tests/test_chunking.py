"""Chunking: structure first (sections, paragraphs, sentences), every chunk within its token
budget, a slice of the document's text with its source, overlap inside a section only."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import pytest
from pocketchat.engine.llama import LlamaModel
from pocketchat.knowledge.chunking import Chunk, chunk_document, document_text
from pocketchat.knowledge.document import Document, Section
from pocketchat.knowledge.extract import extract
from pocketchat.knowledge.normalize import CJK

WORD = re.compile(f"[{CJK}]|[^\\s{CJK}]+")


def words(text: str) -> int:
    """A stand-in tokenizer: one token per CJK character and per other word."""
    return len(WORD.findall(text))


class CountingTokenizer:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, text: str) -> int:
        self.calls += 1
        return words(text)


ZH = "住宿费标准为一线城市每晚不超过六百元，其他城市每晚不超过四百元。超出部分由员工自行承担！"
EN = "Hotel costs above the limit need written approval. Book through the travel portal."
POLICY_MD = f"""# 报销流程

{ZH * 3}

{EN}

## 住宿费

{(ZH + EN) * 4}

## 交通费

{EN * 6}
{ZH}
"""
PAGES = Document(
    "policy.pdf",
    "application/pdf",
    tuple(Section(f"{ZH * 3}\n{EN * 4}", page, None) for page in range(1, 6)),
)
# No sentence ends, no spaces: only the last resort (words, CJK characters) can cut these.
UNBROKEN = Document(
    "log.txt",
    "text/plain",
    (
        Section("无标点的长句" * 200, None, "中文"),
        Section("https://intranet.example/" + "a/" * 400 + " " + "token " * 300, None, "url"),
    ),
)
DOCUMENTS = {
    "markdown": extract(POLICY_MD.encode(), "policy.md"),
    "pages": PAGES,
    "unbroken": UNBROKEN,
}
BUDGETS = [(256, 32), (40, 8), (12, 0), (5, 2)]


def section_of(document: Document, chunk: Chunk) -> Section:
    start = 0
    for section in document.sections:
        if start <= chunk.start and chunk.end <= start + len(section.text):
            return section
        start += len(section.text) + 2
    raise AssertionError(f"chunk {chunk.start}-{chunk.end} crosses a section")


@pytest.mark.parametrize(("max_tokens", "overlap_tokens"), BUDGETS)
@pytest.mark.parametrize("name", DOCUMENTS)
def test_chunks_fit_cite_their_section_and_lose_nothing(
    name: str, max_tokens: int, overlap_tokens: int
) -> None:
    document = DOCUMENTS[name]
    text = document_text(document)
    chunks = chunk_document(document, words, max_tokens=max_tokens, overlap_tokens=overlap_tokens)
    covered = set()
    for chunk in chunks:
        section = section_of(document, chunk)
        assert chunk.text == text[chunk.start : chunk.end]
        assert (chunk.page, chunk.heading) == (section.page, section.heading)
        assert 0 < words(chunk.text) <= max_tokens
        covered.update(range(chunk.start, chunk.end))
    assert all(text[index].isspace() for index in set(range(len(text))) - covered)


def test_overlap_repeats_the_end_of_the_previous_chunk_within_a_section() -> None:
    document = DOCUMENTS["pages"]
    chunks = chunk_document(document, words, max_tokens=40, overlap_tokens=8)
    for previous, chunk in pairwise(chunks):
        if chunk.page == previous.page:
            assert chunk.start < previous.end
            assert 0 < words(previous.text[chunk.start - previous.start :]) <= 8
        else:
            assert chunk.start > previous.end


def test_cuts_fall_at_sentence_ends_when_sentences_fit() -> None:
    document = Document("zh.txt", "text/plain", (Section(ZH * 20, None, None),))
    chunks = chunk_document(document, words, max_tokens=60, overlap_tokens=0)
    assert len(chunks) > 1
    assert all(chunk.text.endswith(("。", "！")) for chunk in chunks)


def test_structure_decides_before_the_budget() -> None:
    """Headings and pages are never merged into one chunk, however small they are."""
    document = extract(b"# A\n\nshort.\n\n# B\n\nalso short.", "two.md")
    chunks = chunk_document(document, words)
    assert [(chunk.heading, chunk.text) for chunk in chunks] == [
        ("A", "A\n\nshort."),
        ("B", "B\n\nalso short."),
    ]


def test_a_hundred_pages_cost_a_linear_number_of_count_calls() -> None:
    page = "\n\n".join([EN * 3, ZH * 3] * 12)
    document = Document(
        "big.pdf", "application/pdf", tuple(Section(page, n, None) for n in range(1, 101))
    )
    tokenizer = CountingTokenizer()
    chunks = chunk_document(document, tokenizer)
    paragraphs = 100 * 24
    # Each section, paragraph and chunk counted about once; overlaps once more per chunk.
    assert tokenizer.calls <= 100 + paragraphs + 2 * len(chunks)


@pytest.mark.parametrize(("max_tokens", "overlap_tokens"), [(64, 8), (16, 4)])
@pytest.mark.parametrize("name", DOCUMENTS)
def test_real_tokenizer_budget_holds(
    tiny_model: Path, name: str, max_tokens: int, overlap_tokens: int
) -> None:
    """The tiny model's byte-level BPE is not additive across joins (CJK characters take
    several tokens): every chunk is still within the budget by the tokenizer itself."""
    model = LlamaModel(tiny_model, use_mmap=True, use_mlock=False)
    try:

        def count(text: str) -> int:
            return len(model.tokenize(text, special=False))

        chunks = chunk_document(
            DOCUMENTS[name], count, max_tokens=max_tokens, overlap_tokens=overlap_tokens
        )
        assert chunks and all(count(chunk.text) <= max_tokens for chunk in chunks)
    finally:
        model.close()


@pytest.mark.parametrize(("max_tokens", "overlap_tokens"), [(0, 0), (10, 10), (10, -1)])
def test_impossible_budgets_are_refused(max_tokens: int, overlap_tokens: int) -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        chunk_document(PAGES, words, max_tokens=max_tokens, overlap_tokens=overlap_tokens)
