"""Retrieval quality: recall@1/3/5 and MRR of lexical, vector and hybrid search over the
company documents in recall_data/ (zh and en), through the real KnowledgeBase and embedder.

`PYTHONPATH=scripts python -m bench.recall` indexes recall_data/docs into a fresh SQLite store
(and PostgreSQL from the `pgserver` wheel with `--stores sqlite,postgresql`), asks every
question of recall_data/questions.json and prints the Markdown table. A question is answered
at rank r when the r-th passage comes from its labelled file and contains its labelled
`needle`, a phrase of the answering passage (the questions never quote it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import unicodedata
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pocketchat.engine.embedder import Embedder
from pocketchat.knowledge.search import Mode, hybrid_search
from pocketchat.knowledge.service import KnowledgeBase
from pocketchat.knowledge.store import open_store
from pocketchat.model_choice import load_embedder
from pocketchat.settings import Settings

DATA = Path(__file__).resolve().parent / "recall_data"
MODES: tuple[Mode, ...] = ("lexical", "vector", "hybrid")
DEPTH = 5  # recall@1, @3 and @5 come from one top-5 search
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Question:
    question: str
    file: str
    needle: str  # a phrase of the passage that answers it

    @property
    def language(self) -> str:
        return "zh" if _CJK.search(self.question) else "en"


def load_questions(path: Path = DATA / "questions.json") -> list[Question]:
    return [Question(**item) for item in json.loads(path.read_text())]


def normalized(text: str) -> str:
    """As the extractor leaves text (NFKC: full-width punctuation becomes ASCII), spaces
    collapsed, so a needle matches a passage however its lines were joined."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def first_relevant_rank(question: Question, hits: Sequence[tuple[str, str]]) -> int | None:
    """The 1-based rank of the first (filename, text) hit that answers the question."""
    needle = normalized(question.needle)
    for rank, (filename, text) in enumerate(hits, start=1):
        if filename == question.file and needle in normalized(text):
            return rank
    return None


def scores(ranks: Sequence[int | None]) -> dict[str, float]:
    """recall@1/3/5 and MRR (reciprocal rank, 0 when not in the top DEPTH) over questions."""
    count = len(ranks) or 1
    found = {
        f"recall@{k}": sum(1 for r in ranks if r is not None and r <= k) / count for k in (1, 3, 5)
    }
    return found | {"mrr": sum(1 / r for r in ranks if r is not None) / count, "n": len(ranks)}


def index_documents(knowledge: KnowledgeBase, docs: Path = DATA / "docs") -> tuple[str, int]:
    """Every document of `docs` in one new vector store, indexed as the worker does; the store's
    id and its chunk count."""
    store = knowledge.store
    vector_store = store.create_vector_store("recall")
    for path in sorted(docs.iterdir()):
        record = knowledge.upload(path.name, path.read_bytes(), "assistants")
        knowledge.index(store.attach_file(vector_store.id, record.id))
        job = store.get_store_file(vector_store.id, record.id)
        if job.status != "completed":
            raise RuntimeError(f"{path.name} was not indexed: {job.last_error}")
    chunks = sum(job.chunks_total for job in store.list_store_files(vector_store.id))
    return vector_store.id, chunks


def evaluate(
    knowledge: KnowledgeBase, store_id: str, questions: Sequence[Question]
) -> dict[str, dict[str, dict[str, float]]]:
    """{mode: {"all"|"zh"|"en": scores}} for lexical, vector and hybrid search, and for what the
    product does ("pocketchat": hybrid, or lexical alone where the embedder does not know the
    question's language)."""
    vectors = [knowledge.embedder.embed_query(q.question) for q in questions]
    results: dict[str, dict[str, dict[str, float]]] = {}
    for mode in (*MODES, None):
        ranks: dict[str, list[int | None]] = {"all": [], "zh": [], "en": []}
        for question, vector in zip(questions, vectors, strict=True):
            if mode is None:
                hits = knowledge.search([store_id], question.question, DEPTH)
            else:
                hits = hybrid_search(
                    knowledge.store, [store_id], question.question, vector, DEPTH, mode=mode
                )
            rank = first_relevant_rank(question, [(hit.filename, hit.text) for hit in hits])
            ranks["all"].append(rank)
            ranks[question.language].append(rank)
        results[mode or "pocketchat"] = {split: scores(values) for split, values in ranks.items()}
    return results


@contextmanager
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL with pgvector from the `pgserver` wheel (as the tests start it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        import pgserver
    with tempfile.TemporaryDirectory() as directory:
        server = pgserver.get_server(Path(directory) / "pgdata", cleanup_mode="delete")
        try:
            yield str(server.get_uri())
        finally:
            server.cleanup()


@contextmanager
def store_url(kind: str) -> Iterator[str]:
    if kind == "postgresql":
        with postgres_url() as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite:///{directory}/knowledge.db"


def run(embedder: Embedder, kinds: Sequence[str]) -> dict[str, Any]:
    questions = load_questions()
    found: dict[str, Any] = {
        "embedding_model": embedder.model_id,
        "questions": {
            "all": len(questions),
            "zh": sum(q.language == "zh" for q in questions),
            "en": sum(q.language == "en" for q in questions),
        },
        "documents": len(list((DATA / "docs").iterdir())),
        "stores": {},
    }
    for kind in kinds:
        with store_url(kind) as url:
            store = open_store(url, dimensions=embedder.dimensions)
            knowledge = KnowledgeBase(store, embedder, max_upload_bytes=20_000_000)
            try:
                store_id, chunks = index_documents(knowledge)
                found["chunks"] = chunks
                found["stores"][kind] = evaluate(knowledge, store_id, questions)
            finally:
                store.close()
    return found


def render_markdown(found: dict[str, Any]) -> str:
    counts = found["questions"]
    lines = [
        f"{counts['all']} questions ({counts['zh']} zh, {counts['en']} en) over "
        f"{found['documents']} documents ({found.get('chunks')} chunks), embedder "
        f"{found['embedding_model']}.",
        "",
        "| store | retrieval | questions | recall@1 | recall@3 | recall@5 | MRR |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, modes in found["stores"].items():
        for mode, splits in modes.items():
            for split in ("all", "zh", "en"):
                s = splits[split]
                lines.append(
                    f"| {kind} | {mode} | {split} ({s['n']}) | {s['recall@1']:.2f} | "
                    f"{s['recall@3']:.2f} | {s['recall@5']:.2f} | {s['mrr']:.2f} |"
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recall", description=__doc__)
    parser.add_argument(
        "--stores", default="sqlite", help="comma-separated: sqlite, postgresql (pgserver)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    # EMBEDDING_MODEL / EMBEDDING_MODEL_PATH choose the embedder, as for the server.
    embedder, why_not = load_embedder(Settings())
    if embedder is None:
        print(f"bench.recall: {why_not}", file=sys.stderr)
        return 2
    try:
        found = run(embedder, [kind.strip() for kind in args.stores.split(",") if kind.strip()])
    finally:
        embedder.close()
    if args.json:
        args.json.write_text(json.dumps(found, indent=1) + "\n")
    print(render_markdown(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
