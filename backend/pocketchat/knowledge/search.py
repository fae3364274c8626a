"""Hybrid retrieval: the lexical and the vector ranking of a store, fused by reciprocal rank.

Reciprocal rank fusion (Cormack et al., 2009) adds 1/(k + rank) over the rankings a chunk
appears in. It needs no calibration between BM25 scores and cosine similarities, which live
on different scales, and k = 60 is the paper's value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pocketchat.knowledge.lexical import terms
from pocketchat.knowledge.store import KnowledgeStore, ScoredChunk

RRF_K = 60
Mode = Literal["hybrid", "lexical", "vector"]


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its source and how it was found."""

    chunk_id: str
    vector_store_id: str
    file_id: str
    filename: str
    text: str
    page: int | None
    heading: str | None
    start: int
    end: int
    score: float  # the fused score: sum of 1/(RRF_K + rank)
    lexical_rank: int | None  # 1-based place in the lexical ranking; None: not in it
    vector_rank: int | None
    similarity: float | None  # cosine similarity to the query, when in the vector ranking


def hybrid_search(
    store: KnowledgeStore,
    store_ids: Sequence[str],
    query_text: str,
    query_vector: Sequence[float] | None,
    limit: int,
    *,
    mode: Mode = "hybrid",
) -> list[Hit]:
    """The best `limit` chunks of these vector stores for a question. `mode` "lexical" or
    "vector" ranks by one side alone (the recall table compares the three); "lexical" needs
    no query vector."""
    if limit <= 0 or not store_ids:
        return []
    # Each side ranks deeper than asked, so a chunk second-best on both sides can win.
    depth = max(4 * limit, 20)
    lexical: list[ScoredChunk] = []
    vector: list[ScoredChunk] = []
    if mode in ("hybrid", "lexical"):
        lexical = store.search_lexical(store_ids, terms(query_text), depth)
    if mode in ("hybrid", "vector"):
        if query_vector is None:
            raise ValueError(f"a {mode} search needs the query's vector")
        vector = store.search_vector(store_ids, query_vector, depth)

    lexical_rank = {hit.chunk_id: rank for rank, hit in enumerate(lexical, start=1)}
    vector_rank = {hit.chunk_id: rank for rank, hit in enumerate(vector, start=1)}
    similarity = {hit.chunk_id: hit.score for hit in vector}
    fused: dict[str, float] = {}
    for ranks in (lexical_rank, vector_rank):
        for chunk_id, rank in ranks.items():
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    # Ties (one chunk first lexically, another first by vector) go to the better single rank.
    best = sorted(
        fused,
        key=lambda chunk_id: (
            -fused[chunk_id],
            min(lexical_rank.get(chunk_id, depth + 1), vector_rank.get(chunk_id, depth + 1)),
        ),
    )[:limit]
    return [
        Hit(
            chunk_id=chunk.chunk_id,
            vector_store_id=chunk.vector_store_id,
            file_id=chunk.file_id,
            filename=chunk.filename,
            text=chunk.text,
            page=chunk.page,
            heading=chunk.heading,
            start=chunk.start,
            end=chunk.end,
            score=fused[chunk.chunk_id],
            lexical_rank=lexical_rank.get(chunk.chunk_id),
            vector_rank=vector_rank.get(chunk.chunk_id),
            similarity=similarity.get(chunk.chunk_id),
        )
        for chunk in store.get_chunks(best)
    ]
