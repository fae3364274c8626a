"""Where the knowledge base lives: one small interface, its records and errors, and `open_store`.

Two engines implement it: SQLite (sqlite_store.py, the default: one file, no server) and
PostgreSQL with pgvector (postgres_store.py, which several replicas share). tests/
test_knowledge_store.py runs one suite against both.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

Status = Literal["in_progress", "completed", "failed", "cancelled"]
ErrorCode = Literal["server_error", "unsupported_file", "invalid_file"]
STATUSES: tuple[Status, ...] = ("in_progress", "completed", "failed", "cancelled")


# ---- errors: the API maps each to its HTTP status in one place ----


class KnowledgeError(Exception):
    """The base: the message is one sentence for the client."""


class NotFound(KnowledgeError):
    """No `kind` ("file", "vector_store", "vector_store_file") has this id."""

    def __init__(self, kind: str, id: str) -> None:
        super().__init__(f"No {kind.replace('_', ' ')} found with id '{id}'.")
        self.kind = kind
        self.id = id


class DimensionMismatch(KnowledgeError):
    """A vector's length differs from the store's: the embedding model changed."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(
            f"The knowledge base holds {expected}-dimensional vectors but got {got}: changing "
            "the embedding model means re-indexing (start a new knowledge database and add "
            "the documents again)."
        )
        self.expected = expected
        self.got = got


class JobClosed(KnowledgeError):
    """The indexing job is no longer in progress (another worker finished it, or it failed)."""

    def __init__(self, vector_store_id: str, file_id: str, status: str) -> None:
        super().__init__(f"The indexing of {file_id} into {vector_store_id} is already {status}.")
        self.status = status


class StoreUnavailable(KnowledgeError):
    """The database cannot be reached or stayed locked; retrying later may work."""


# ---- records: plain values, frozen ----


@dataclass(frozen=True)
class FileRecord:
    id: str  # file-…
    filename: str
    purpose: str
    bytes: int
    created_at: int  # unix seconds


@dataclass(frozen=True)
class FileCounts:
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    total: int = 0


@dataclass(frozen=True)
class VectorStoreRecord:
    id: str  # vs_…
    name: str
    metadata: dict[str, str]
    created_at: int
    usage_bytes: int  # text and vectors of its completed files
    file_counts: FileCounts

    @property
    def status(self) -> Literal["in_progress", "completed"]:
        return "in_progress" if self.file_counts.in_progress else "completed"


@dataclass(frozen=True)
class StoreFileRecord:
    """A file in a vector store: the state of its indexing job."""

    vector_store_id: str
    file_id: str
    filename: str
    status: Status
    created_at: int
    usage_bytes: int
    chunks_done: int
    chunks_total: int
    last_error: str | None = None
    last_error_code: ErrorCode | None = None


class NewChunk(Protocol):
    """A passage to store, with its source; knowledge.chunking's Chunk is one."""

    @property
    def text(self) -> str: ...
    @property
    def page(self) -> int | None: ...
    @property
    def heading(self) -> str | None: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: str
    vector_store_id: str
    file_id: str
    filename: str
    text: str
    page: int | None
    heading: str | None
    start: int  # character span in the extracted document
    end: int


@dataclass(frozen=True)
class ScoredChunk:
    """One place in a ranking: BM25-style relevance (lexical) or cosine similarity (vector)."""

    chunk_id: str
    score: float


class KnowledgeStore(Protocol):
    dimensions: int

    # files: the uploaded bytes are kept, so an interrupted indexing job resumes after a restart
    def add_file(self, filename: str, data: bytes, purpose: str) -> FileRecord: ...
    def get_file(self, file_id: str) -> FileRecord: ...
    def file_bytes(self, file_id: str) -> bytes: ...
    def list_files(self) -> list[FileRecord]: ...  # newest first
    def delete_file(self, file_id: str) -> None: ...  # and its chunks in every vector store

    # vector stores (collections)
    def create_vector_store(
        self, name: str, metadata: dict[str, str] | None = None
    ) -> VectorStoreRecord: ...
    def get_vector_store(self, store_id: str) -> VectorStoreRecord: ...
    def list_vector_stores(self) -> list[VectorStoreRecord]: ...  # newest first
    def update_vector_store(
        self, store_id: str, *, name: str | None = None, metadata: dict[str, str] | None = None
    ) -> VectorStoreRecord: ...
    def delete_vector_store(self, store_id: str) -> None: ...

    # a file in a vector store: the indexing job
    def attach_file(self, store_id: str, file_id: str) -> StoreFileRecord:
        """A new job, `in_progress` and claimed by this store; an attached file's as it is."""
        ...

    def get_store_file(self, store_id: str, file_id: str) -> StoreFileRecord: ...
    def list_store_files(self, store_id: str) -> list[StoreFileRecord]: ...  # newest first
    def detach_file(self, store_id: str, file_id: str) -> None: ...
    def set_progress(self, store_id: str, file_id: str, done: int, total: int) -> None:
        """Chunks embedded so far; JobClosed if the job is no longer in progress."""
        ...

    def fail(
        self, store_id: str, file_id: str, reason: str, code: ErrorCode = "server_error"
    ) -> None: ...
    def complete(
        self,
        store_id: str,
        file_id: str,
        chunks: Sequence[NewChunk],
        vectors: Sequence[Sequence[float]],
    ) -> None:
        """One transaction: the chunks become searchable and the job `completed`, or nothing
        changes (a crash or an error half-way leaves no chunk visible). JobClosed if another
        worker finished the job first."""
        ...

    def unfinished_jobs(self) -> list[StoreFileRecord]:
        """The `in_progress` jobs this store should work on, oldest first: those it claimed
        (attach_file) and those no live store claims (their worker died), which it claims.
        Two replicas never both get the same job; close() gives this store's claims up."""
        ...

    # retrieval
    def search_lexical(
        self, store_ids: Sequence[str], query_terms: Sequence[str], limit: int
    ) -> list[ScoredChunk]: ...
    def search_vector(
        self, store_ids: Sequence[str], vector: Sequence[float], limit: int
    ) -> list[ScoredChunk]: ...
    def get_chunks(self, chunk_ids: Sequence[str]) -> list[StoredChunk]:
        """In the order asked; ids that no longer exist are left out."""
        ...

    def close(self) -> None: ...


# ---- helpers both engines share ----


def new_id(prefix: str) -> str:
    """A random id in OpenAI's style (`file-…`, `vs_…`): 96 random bits, so replicas that
    share a database never collide without asking it."""
    return prefix + uuid.uuid4().hex[:24]


def now() -> int:
    return int(time.time())


def checked_vector(vector: Sequence[float], dimensions: int) -> Sequence[float]:
    if len(vector) != dimensions:
        raise DimensionMismatch(dimensions, len(vector))
    return vector


def is_chunk_id(text: str) -> bool:
    """Chunk ids are the decimal form of a 64-bit row number."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def usable_terms(query_terms: Sequence[str]) -> list[str]:
    """The query terms a store can look up, each once: no empty ones, no NUL (PostgreSQL
    refuses it), none that cannot be encoded (a lone surrogate from a JSON escape)."""
    usable = []
    for term in dict.fromkeys(term.replace("\x00", "").strip() for term in query_terms):
        try:
            term.encode()
        except UnicodeEncodeError:
            continue
        if term:
            usable.append(term)
    return usable


def chunk_usage_bytes(text: str, dimensions: int) -> int:
    """What a chunk costs: its text in UTF-8 and its float32 vector."""
    return len(text.encode()) + 4 * dimensions


def open_store(url: str, *, dimensions: int) -> KnowledgeStore:
    """`postgresql://…` → PostgreSQL; `sqlite:///relative.db`, `sqlite:////absolute.db` (as
    SQLAlchemy spells them) or a plain path → SQLite. The database remembers the dimensions it
    was created with; another number raises DimensionMismatch."""
    if url.startswith(("postgresql://", "postgres://")):
        from pocketchat.knowledge.postgres_store import PostgresStore

        return PostgresStore(url, dimensions=dimensions)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
    elif "://" in url:
        raise KnowledgeError(f"Unsupported knowledge database URL {url.split('://')[0]}://…")
    else:
        path = Path(url)
    from pocketchat.knowledge.sqlite_store import SqliteStore

    os.makedirs(path.parent, exist_ok=True)
    return SqliteStore(path, dimensions=dimensions)
