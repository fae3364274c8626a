"""The knowledge stores, one suite against both, each real: SQLite in a temporary file and
PostgreSQL with pgvector started from the `pgserver` wheel (once per session)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pocketchat.knowledge.lexical import terms
from pocketchat.knowledge.search import hybrid_search
from pocketchat.knowledge.store import (
    DimensionMismatch,
    JobClosed,
    KnowledgeStore,
    NotFound,
    VectorStoreRecord,
    open_store,
)

DIMENSIONS = 4
_databases = itertools.count()


@dataclass(frozen=True)
class Passage:
    text: str
    page: int | None = None
    heading: str | None = None
    start: int = 0
    end: int = 0


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """PostgreSQL 16 with pgvector 0.6.2 from the wheel, stopped and deleted at the end. As
    root, pgserver runs it as a system user `pgserver` it creates (postgres refuses root)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        import pgserver
    server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="delete")
    yield server
    server.cleanup()


def new_database(server: Any) -> str:
    """A fresh database on the session's server: each test starts empty."""
    name = f"knowledge_{next(_databases)}"
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}".encode())
    return str(server.get_uri(name))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/knowledge.db"
    return new_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def store(store_url: str) -> Iterator[KnowledgeStore]:
    opened = open_store(store_url, dimensions=DIMENSIONS)
    yield opened
    opened.close()


def index(
    store: KnowledgeStore,
    vector_store: VectorStoreRecord,
    filename: str,
    passages: Sequence[tuple[str, Sequence[float]]],
) -> str:
    """Upload a file, attach it and store its passages; the file's id."""
    file = store.add_file(filename, "\n".join(text for text, _ in passages).encode(), "assistants")
    store.attach_file(vector_store.id, file.id)
    chunks = [Passage(text, page=1, heading=filename) for text, _ in passages]
    store.complete(vector_store.id, file.id, chunks, [vector for _, vector in passages])
    return file.id


def texts(store: KnowledgeStore, found: Sequence[Any]) -> list[str]:
    return [chunk.text for chunk in store.get_chunks([hit.chunk_id for hit in found])]


E1, E2, E3, E4 = [1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]
HOTEL_ZH = "差旅住宿费标准：员工出差住酒店，住宿费每晚最多报销 500 元。"
LEAVE_ZH = "年假申请流程：员工请假需提前三天在系统中提交申请。"
PASSWORD_ZH = "IT 指南：忘记密码时，请在登录页点击重置密码。"
HOTEL_EN = "Travel policy: the hotel allowance on business trips is at most 120 euros a night."
LEAVE_EN = "Annual leave must be requested three days ahead in the HR system."


def test_files(store: KnowledgeStore) -> None:
    first = store.add_file("a.txt", b"alpha", "assistants")
    second = store.add_file("b.md", b"beta", "assistants")
    assert first.id.startswith("file-") and first.bytes == 5
    assert store.get_file(first.id) == first
    assert store.file_bytes(second.id) == b"beta"
    assert [record.id for record in store.list_files()] == [second.id, first.id]
    store.delete_file(first.id)
    assert [record.id for record in store.list_files()] == [second.id]
    for call in (store.get_file, store.file_bytes, store.delete_file):
        with pytest.raises(NotFound) as missing:
            call(first.id)
        assert (missing.value.kind, missing.value.id) == ("file", first.id)


def test_vector_stores(store: KnowledgeStore) -> None:
    created = store.create_vector_store("policies", {"team": "hr"})
    assert created.id.startswith("vs_") and created.metadata == {"team": "hr"}
    assert created.file_counts.total == 0 and created.status == "completed"
    other = store.create_vector_store("notes")
    assert [record.id for record in store.list_vector_stores()] == [other.id, created.id]
    renamed = store.update_vector_store(created.id, name="HR policies")
    assert (renamed.name, renamed.metadata) == ("HR policies", {"team": "hr"})
    assert store.update_vector_store(created.id, metadata={}).metadata == {}
    store.delete_vector_store(created.id)
    with pytest.raises(NotFound) as missing:
        store.get_vector_store(created.id)
    assert missing.value.kind == "vector_store"
    with pytest.raises(NotFound):
        store.update_vector_store(created.id, name="x")
    with pytest.raises(NotFound):
        store.delete_vector_store(created.id)


def test_indexing_jobs(store: KnowledgeStore) -> None:
    vector_store = store.create_vector_store("docs")
    good = store.add_file("good.txt", b"good", "assistants")
    bad = store.add_file("bad.pdf", b"%PDF", "assistants")
    job = store.attach_file(vector_store.id, good.id)
    assert (job.status, job.filename, job.vector_store_id) == ("in_progress", "good.txt",
                                                               vector_store.id)  # fmt: skip
    assert store.attach_file(vector_store.id, good.id) == job  # attaching again changes nothing
    store.set_progress(vector_store.id, good.id, 1, 2)
    progress = store.get_store_file(vector_store.id, good.id)
    assert (progress.chunks_done, progress.chunks_total) == (1, 2)

    store.attach_file(vector_store.id, bad.id)
    store.fail(vector_store.id, bad.id, "bad.pdf has no text layer", "invalid_file")
    failed = store.get_store_file(vector_store.id, bad.id)
    assert (failed.status, failed.last_error, failed.last_error_code) == (
        "failed", "bad.pdf has no text layer", "invalid_file")  # fmt: skip
    with pytest.raises(JobClosed):
        store.complete(vector_store.id, bad.id, [Passage("late")], [E1])

    store.complete(vector_store.id, good.id, [Passage("one"), Passage("two")], [E1, E2])
    done = store.get_store_file(vector_store.id, good.id)
    assert (done.status, done.chunks_done, done.usage_bytes) == ("completed", 2, 6 + 2 * 16)
    with pytest.raises(JobClosed):
        store.set_progress(vector_store.id, good.id, 2, 2)
    counts = store.get_vector_store(vector_store.id).file_counts
    assert (counts.completed, counts.failed, counts.in_progress, counts.total) == (1, 1, 0, 2)
    assert store.get_vector_store(vector_store.id).usage_bytes == done.usage_bytes
    assert {record.file_id for record in store.list_store_files(vector_store.id)} == {
        good.id, bad.id}  # fmt: skip

    store.detach_file(vector_store.id, bad.id)
    assert store.get_file(bad.id) == bad  # the file stays; only its place in the store goes
    missing_cases = [
        (lambda: store.attach_file("vs_missing", good.id), "vector_store"),
        (lambda: store.attach_file(vector_store.id, "file-missing"), "file"),
        (lambda: store.get_store_file(vector_store.id, bad.id), "vector_store_file"),
        (lambda: store.detach_file(vector_store.id, bad.id), "vector_store_file"),
        (lambda: store.set_progress(vector_store.id, bad.id, 0, 1), "vector_store_file"),
        (lambda: store.list_store_files("vs_missing"), "vector_store"),
    ]
    for call, kind in missing_cases:
        with pytest.raises(NotFound) as missing:
            call()
        assert missing.value.kind == kind


def test_complete_is_all_or_nothing(store: KnowledgeStore) -> None:
    vector_store = store.create_vector_store("docs")
    file = store.add_file("hotel.txt", b"...", "assistants")
    store.attach_file(vector_store.id, file.id)
    chunks = [Passage(HOTEL_EN), Passage(LEAVE_EN), Passage("hotel again")]
    with pytest.raises(DimensionMismatch, match="re-indexing"):
        store.complete(vector_store.id, file.id, chunks, [E1, E2, [1.0, 0, 0]])  # last one short

    assert store.get_store_file(vector_store.id, file.id).status == "in_progress"
    assert store.search_lexical([vector_store.id], ["hotel"], 10) == []
    assert store.search_vector([vector_store.id], E1, 10) == []
    store.complete(vector_store.id, file.id, chunks, [E1, E2, E3])
    assert len(store.search_lexical([vector_store.id], ["hotel"], 10)) == 2


def test_unfinished_jobs_survive_a_restart(store_url: str) -> None:
    before = open_store(store_url, dimensions=DIMENSIONS)
    vector_store = before.create_vector_store("docs")
    finished, interrupted = (before.add_file(name, b"x", "assistants") for name in "ab")
    for file in (finished, interrupted):
        before.attach_file(vector_store.id, file.id)
    before.complete(vector_store.id, finished.id, [Passage("done")], [E1])
    assert [job.file_id for job in before.unfinished_jobs()] == [interrupted.id]
    before.close()

    after = open_store(store_url, dimensions=DIMENSIONS)
    try:
        assert [job.file_id for job in after.unfinished_jobs()] == [interrupted.id]
        assert after.get_store_file(vector_store.id, finished.id).status == "completed"
    finally:
        after.close()


def test_one_replica_takes_an_orphaned_job(store_url: str) -> None:
    first, second = (open_store(store_url, dimensions=DIMENSIONS) for _ in range(2))
    try:
        vector_store = first.create_vector_store("docs")
        file = first.add_file("a.txt", b"a", "assistants")
        first.attach_file(vector_store.id, file.id)
        assert second.unfinished_jobs() == []  # the first works on it
        first.close()  # the first stops: the job is free
        assert [job.file_id for job in second.unfinished_jobs()] == [file.id]
        third = open_store(store_url, dimensions=DIMENSIONS)
        assert third.unfinished_jobs() == []
        second.complete(vector_store.id, file.id, [Passage("a")], [E1])
        with pytest.raises(JobClosed):  # a late second worker cannot store it twice
            third.complete(vector_store.id, file.id, [Passage("a")], [E1])
        third.close()
    finally:
        first.close()
        second.close()


def test_the_dimensions_are_the_stores(store_url: str, store: KnowledgeStore) -> None:
    store.close()
    with pytest.raises(DimensionMismatch, match="re-indexing"):
        open_store(store_url, dimensions=DIMENSIONS + 1)
    reopened = open_store(store_url, dimensions=DIMENSIONS)
    try:
        with pytest.raises(DimensionMismatch):
            reopened.search_vector([], [1.0] * (DIMENSIONS + 1), 5)
    finally:
        reopened.close()


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("出差住酒店能报多少钱？", HOTEL_ZH),
        ("住宿的费用有什么标准", HOTEL_ZH),
        ("怎么请年假", LEAVE_ZH),
        ("What is the hotel allowance for business trips?", HOTEL_EN),
        ("how many days ahead for ANNUAL leave", LEAVE_EN),
    ],
)
def test_lexical_search_finds_the_passage(
    store: KnowledgeStore, question: str, expected: str
) -> None:
    vector_store = store.create_vector_store("policies")
    documents = [HOTEL_ZH, LEAVE_ZH, PASSWORD_ZH, HOTEL_EN, LEAVE_EN]
    index(store, vector_store, "policies.md", [(text, E1) for text in documents])
    found = store.search_lexical([vector_store.id], terms(question), 3)
    assert texts(store, found)[0] == expected


def test_chinese_terms_include_the_words_inside_words() -> None:
    found = terms("出差住酒店的住宿费是多少？The Hotel, 2024!")
    assert {"住宿费", "住宿", "费", "出差", "酒店", "hotel", "2024"} <= set(found)
    assert not {"的", "是", "the", "？", ","} & set(found)


def test_vector_search_ranks_by_cosine(store: KnowledgeStore) -> None:
    vector_store = store.create_vector_store("docs")
    index(store, vector_store, "v.txt",
          [("east", E1), ("north", E2), ("north-east", [0.7, 0.7, 0, 0]), ("up", E3)])  # fmt: skip
    found = store.search_vector([vector_store.id], [0.9, 0.2, 0, 0], 3)
    assert texts(store, found) == ["east", "north-east", "north"]
    assert found[0].score == pytest.approx(0.9 / (0.85**0.5), abs=1e-5)


def test_hybrid_search_fuses_both_rankings(store: KnowledgeStore) -> None:
    vector_store = store.create_vector_store("docs")
    index(store, vector_store, "mix.txt", [
        ("hotel hotel hotel allowance", E4),   # the best lexically, far by vector
        ("hotel allowance policy", [0.8, 0.6, 0, 0]),  # second on both sides
        ("an unrelated passage", E1),           # the nearest vector, no word in common
        *[(f"filler {n}", [0.3, 0, 0.95, 0]) for n in range(3)],  # nearer than the first
    ])  # fmt: skip
    query, vector = "hotel allowance", [1.0, 0.1, 0, 0]
    hybrid = hybrid_search(store, [vector_store.id], query, vector, 3)
    assert hybrid[0].text == "hotel allowance policy"
    assert (hybrid[0].lexical_rank, hybrid[0].vector_rank) == (2, 2)
    assert hybrid[0].filename == "mix.txt" and hybrid[0].vector_store_id == vector_store.id
    lexical = hybrid_search(store, [vector_store.id], query, None, 3, mode="lexical")
    assert lexical[0].text == "hotel hotel hotel allowance" and lexical[0].vector_rank is None
    vector_only = hybrid_search(store, [vector_store.id], query, vector, 3, mode="vector")
    assert vector_only[0].text == "an unrelated passage"


def test_search_stays_in_the_given_stores(store: KnowledgeStore) -> None:
    mine, theirs = store.create_vector_store("mine"), store.create_vector_store("theirs")
    index(store, mine, "mine.txt", [("hotel allowance mine", E1)])
    index(store, theirs, "theirs.txt", [("hotel allowance theirs", E1)])
    hits = hybrid_search(store, [mine.id], "hotel allowance", E1, 10)
    assert [hit.text for hit in hits] == ["hotel allowance mine"]
    both = hybrid_search(store, [mine.id, theirs.id], "hotel allowance", E1, 10)
    assert len(both) == 2


def test_deleted_documents_leave_search(store: KnowledgeStore) -> None:
    vector_store = store.create_vector_store("docs")
    kept = index(store, vector_store, "kept.txt", [("hotel allowance kept", E1)])
    deleted = index(store, vector_store, "gone.txt", [("hotel allowance gone", E1)])
    detached = index(store, vector_store, "detached.txt", [("hotel allowance detached", E1)])
    assert len(hybrid_search(store, [vector_store.id], "hotel", E1, 10)) == 3  # caches filled
    store.delete_file(deleted)
    store.detach_file(vector_store.id, detached)
    for mode in ("lexical", "vector"):
        hits = hybrid_search(store, [vector_store.id], "hotel", E1, 10, mode=mode)
        assert [hit.file_id for hit in hits] == [kept]
    store.delete_vector_store(vector_store.id)
    assert store.search_vector([vector_store.id], E1, 10) == []
    assert store.search_lexical([vector_store.id], ["hotel"], 10) == []


HOSTILE_QUERIES = [
    '"', '""', "'", "''", "\\", "*", "-", "^", ":", "(((", ")", "NEAR(hotel allowance, 2)",
    "hotel AND OR NOT", 'hotel" OR "x', "title:hotel", "hotel*", "&|!:*<->", "' | '",
    "hotel\x00allowance", "\ud800hotel", "{hotel}", "hotel:*A", "出差\"住宿\" NEAR/2", "+hotel -x",
]  # fmt: skip


@pytest.mark.parametrize("query", HOSTILE_QUERIES, ids=repr)
def test_hostile_queries_are_words(store: KnowledgeStore, query: str) -> None:
    vector_store = store.create_vector_store("docs")
    index(store, vector_store, "hotel.txt", [(HOTEL_EN, E1), ("hotel allowance", E2)])
    store.search_lexical([vector_store.id], [query], 5)  # raw, as a caller may pass it
    hits = hybrid_search(store, [vector_store.id], query, None, 5, mode="lexical")
    if "hotel" in query:
        assert hits, "the word in the hostile query still finds the passage"
