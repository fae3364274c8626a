"""The knowledge store on PostgreSQL with pgvector, which several replicas share.

Vectors live in a `vector(n)` column with an HNSW index (cosine distance, <=>); the terms in a
`tsvector` built from lexical.terms() directly (no text-search parser or locale touches the
Chinese words), ranked by ts_rank over a GIN index. Every method is one transaction on a
pooled connection.

Which replica works on a job: the one holding the job's session advisory lock, taken on a
connection of its own. A lock dies with its session, so when a replica is killed its jobs are
free at once for the next `unfinished_jobs()` of another: no lease to renew or wait out. A job
is completed by an UPDATE of its row under FOR UPDATE, so even a replica that lost its lock
connection cannot complete a job twice.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from pocketchat.knowledge.lexical import terms
from pocketchat.knowledge.store import (
    DimensionMismatch,
    ErrorCode,
    FileCounts,
    FileRecord,
    JobClosed,
    KnowledgeError,
    NewChunk,
    NotFound,
    ScoredChunk,
    StoredChunk,
    StoreFileRecord,
    StoreUnavailable,
    VectorStoreRecord,
    checked_vector,
    chunk_usage_bytes,
    is_chunk_id,
    new_id,
    now,
    usable_terms,
)

SCHEMA_VERSION = 1  # knowledge_meta.schema_version; a later schema migrates from it
SCHEMA_LOCK = 0x706F636B6574  # advisory lock: one replica creates or migrates the schema
# Tables are prefixed: the database may be shared with other applications.
SCHEMA = """
CREATE TABLE knowledge_files (
    seq bigint GENERATED ALWAYS AS IDENTITY, id text PRIMARY KEY, filename text NOT NULL,
    purpose text NOT NULL, bytes bigint NOT NULL, created_at bigint NOT NULL);
CREATE TABLE knowledge_file_data (
    file_id text PRIMARY KEY REFERENCES knowledge_files(id) ON DELETE CASCADE,
    data bytea NOT NULL);
CREATE TABLE knowledge_vector_stores (
    seq bigint GENERATED ALWAYS AS IDENTITY, id text PRIMARY KEY, name text NOT NULL,
    metadata jsonb NOT NULL, created_at bigint NOT NULL);
CREATE TABLE knowledge_store_files (
    seq bigint GENERATED ALWAYS AS IDENTITY,
    store_id text NOT NULL REFERENCES knowledge_vector_stores(id) ON DELETE CASCADE,
    file_id text NOT NULL REFERENCES knowledge_files(id) ON DELETE CASCADE,
    status text NOT NULL CHECK (status IN ('in_progress', 'completed', 'failed', 'cancelled')),
    created_at bigint NOT NULL,
    usage_bytes bigint NOT NULL DEFAULT 0,
    chunks_done integer NOT NULL DEFAULT 0,
    chunks_total integer NOT NULL DEFAULT 0,
    last_error text,
    last_error_code text,
    PRIMARY KEY (store_id, file_id));
CREATE INDEX knowledge_store_files_by_file ON knowledge_store_files (file_id);
CREATE TABLE knowledge_chunks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id text NOT NULL,
    file_id text NOT NULL,
    text text NOT NULL,
    page integer,
    heading text,
    start_offset integer NOT NULL,
    end_offset integer NOT NULL,
    terms tsvector NOT NULL,
    embedding vector({dimensions}) NOT NULL,
    FOREIGN KEY (store_id, file_id)
        REFERENCES knowledge_store_files (store_id, file_id) ON DELETE CASCADE);
CREATE INDEX knowledge_chunks_by_job ON knowledge_chunks (store_id, file_id);
CREATE INDEX knowledge_chunks_terms ON knowledge_chunks USING gin (terms);
CREATE INDEX knowledge_chunks_embedding ON knowledge_chunks
    USING hnsw (embedding vector_cosine_ops);
"""

_STORE_FILE = """
SELECT sf.*, f.filename FROM knowledge_store_files sf JOIN knowledge_files f ON f.id = sf.file_id
"""
_VECTOR_STORE = """
SELECT v.id, v.name, v.metadata, v.created_at,
       COALESCE(SUM(sf.usage_bytes) FILTER (WHERE sf.status = 'completed'), 0) AS usage_bytes,
       COUNT(sf.file_id) FILTER (WHERE sf.status = 'in_progress') AS in_progress,
       COUNT(sf.file_id) FILTER (WHERE sf.status = 'completed') AS completed,
       COUNT(sf.file_id) FILTER (WHERE sf.status = 'failed') AS failed,
       COUNT(sf.file_id) FILTER (WHERE sf.status = 'cancelled') AS cancelled,
       COUNT(sf.file_id) AS total
FROM knowledge_vector_stores v LEFT JOIN knowledge_store_files sf ON sf.store_id = v.id
"""
# pgvector 0.6's HNSW scan filters after it finds `ef_search` neighbours, so a search in a
# small store among large ones may come back short; then it runs exactly (see search_vector).
MAX_EF_SEARCH = 1000


class PostgresStore:
    def __init__(self, url: str, *, dimensions: int, pool_size: int = 8) -> None:
        self.url = url
        self.dimensions = dimensions
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"row_factory": dict_row},
            check=ConnectionPool.check_connection,
            open=False,
        )
        self._claims_lock = threading.Lock()
        self._claimed: set[tuple[str, str]] = set()
        self._claims_connection: psycopg.Connection[Any] | None = None
        try:
            self._pool.open(wait=True, timeout=10)
            self._open_schema()
        except PoolTimeout as error:
            self._pool.close()
            raise StoreUnavailable(f"The knowledge database cannot be reached: {error}") from error
        except BaseException:
            self._pool.close()
            raise

    def _open_schema(self) -> None:
        with self._connection() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            try:
                db.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.errors.InsufficientPrivilege as error:
                raise KnowledgeError(
                    "The knowledge database needs pgvector: a superuser must run "
                    "CREATE EXTENSION vector in it once."
                ) from error
            db.execute(
                "CREATE TABLE IF NOT EXISTS knowledge_meta (key text PRIMARY KEY, value text)"
            )
            meta = {
                row["key"]: row["value"]
                for row in db.execute("SELECT key, value FROM knowledge_meta").fetchall()
            }
            if "schema_version" not in meta:
                db.execute(SCHEMA.format(dimensions=int(self.dimensions)).encode())
                meta = {"schema_version": str(SCHEMA_VERSION), "dimensions": str(self.dimensions)}
                with db.cursor() as cursor:
                    cursor.executemany("INSERT INTO knowledge_meta VALUES (%s, %s)", meta.items())
            if int(meta["schema_version"]) > SCHEMA_VERSION:
                raise KnowledgeError(
                    f"The knowledge database has schema {meta['schema_version']}, newer than "
                    f"this pocketchat's ({SCHEMA_VERSION}): upgrade pocketchat."
                )
            if int(meta["dimensions"]) != self.dimensions:
                raise DimensionMismatch(int(meta["dimensions"]), self.dimensions)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in one transaction: committed at the end, rolled back on error."""
        try:
            with self._pool.connection() as connection:
                yield connection
        except (psycopg.OperationalError, PoolTimeout) as error:
            raise StoreUnavailable(f"The knowledge database cannot be reached: {error}") from error

    def _rows(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        with self._connection() as db:
            return db.execute(sql.encode(), parameters).fetchall()

    # ---- claims: which replica works on which job ----

    def _claim(self, job: tuple[str, str]) -> bool:
        with self._claims_lock:
            if job in self._claimed:
                return True
            connection = self._claims_connection
            if connection is None or connection.closed or connection.broken:
                self._claimed.clear()  # a lost session lost its locks
                connection = psycopg.connect(self.url, autocommit=True)
                self._claims_connection = connection
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (_lock_key(job),))
            claimed = bool(row.fetchone()[0])  # type: ignore[index]
            if claimed:
                self._claimed.add(job)
            return claimed

    def _release(self, jobs: Sequence[tuple[str, str]]) -> None:
        with self._claims_lock:
            for job in jobs:
                if job in self._claimed and self._claims_connection is not None:
                    self._claimed.discard(job)
                    with suppress(psycopg.Error):  # else the session is gone, and its locks
                        self._claims_connection.execute(
                            "SELECT pg_advisory_unlock(%s)", (_lock_key(job),)
                        )

    def _claimed_where(
        self, store_id: str | None = None, file_id: str | None = None
    ) -> list[tuple[str, str]]:
        with self._claims_lock:
            return [
                (store, file)
                for store, file in self._claimed
                if store_id in (None, store) and file_id in (None, file)
            ]

    # ---- files ----

    def add_file(self, filename: str, data: bytes, purpose: str) -> FileRecord:
        record = FileRecord(new_id("file-"), _text(filename), purpose, len(data), now())
        with self._connection() as db:
            db.execute(
                "INSERT INTO knowledge_files (id, filename, purpose, bytes, created_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                (record.id, record.filename, purpose, record.bytes, record.created_at),
            )
            db.execute("INSERT INTO knowledge_file_data VALUES (%s, %s)", (record.id, data))
        return record

    def get_file(self, file_id: str) -> FileRecord:
        rows = self._rows("SELECT * FROM knowledge_files WHERE id = %s", (file_id,))
        if not rows:
            raise NotFound("file", file_id)
        return _file(rows[0])

    def file_bytes(self, file_id: str) -> bytes:
        rows = self._rows("SELECT data FROM knowledge_file_data WHERE file_id = %s", (file_id,))
        if not rows:
            raise NotFound("file", file_id)
        return bytes(rows[0]["data"])

    def list_files(self) -> list[FileRecord]:
        return [_file(row) for row in self._rows("SELECT * FROM knowledge_files ORDER BY seq DESC")]

    def delete_file(self, file_id: str) -> None:
        with self._connection() as db:
            if db.execute("DELETE FROM knowledge_files WHERE id = %s", (file_id,)).rowcount == 0:
                raise NotFound("file", file_id)
        self._release(self._claimed_where(file_id=file_id))

    # ---- vector stores ----

    def create_vector_store(
        self, name: str, metadata: dict[str, str] | None = None
    ) -> VectorStoreRecord:
        store_id = new_id("vs_")
        with self._connection() as db:
            db.execute(
                "INSERT INTO knowledge_vector_stores (id, name, metadata, created_at) "
                "VALUES (%s, %s, %s, %s)",
                (store_id, _text(name), Jsonb(metadata or {}), now()),
            )
        return self.get_vector_store(store_id)

    def get_vector_store(self, store_id: str) -> VectorStoreRecord:
        rows = self._rows(_VECTOR_STORE + "WHERE v.id = %s GROUP BY v.id", (store_id,))
        if not rows:
            raise NotFound("vector_store", store_id)
        return _vector_store(rows[0])

    def list_vector_stores(self) -> list[VectorStoreRecord]:
        rows = self._rows(_VECTOR_STORE + "GROUP BY v.id ORDER BY v.seq DESC")
        return [_vector_store(row) for row in rows]

    def update_vector_store(
        self, store_id: str, *, name: str | None = None, metadata: dict[str, str] | None = None
    ) -> VectorStoreRecord:
        with self._connection() as db:
            updated = db.execute(
                "UPDATE knowledge_vector_stores SET name = COALESCE(%s, name), "
                "metadata = COALESCE(%s, metadata) WHERE id = %s",
                (None if name is None else _text(name),
                 None if metadata is None else Jsonb(metadata), store_id),
            )  # fmt: skip
            if updated.rowcount == 0:
                raise NotFound("vector_store", store_id)
        return self.get_vector_store(store_id)

    def delete_vector_store(self, store_id: str) -> None:
        with self._connection() as db:
            deleted = db.execute("DELETE FROM knowledge_vector_stores WHERE id = %s", (store_id,))
            if deleted.rowcount == 0:
                raise NotFound("vector_store", store_id)
        self._release(self._claimed_where(store_id=store_id))

    # ---- indexing jobs ----

    def attach_file(self, store_id: str, file_id: str) -> StoreFileRecord:
        with self._connection() as db:
            if not db.execute(
                "SELECT 1 FROM knowledge_vector_stores WHERE id = %s FOR SHARE", (store_id,)
            ).fetchone():
                raise NotFound("vector_store", store_id)
            if not db.execute(
                "SELECT 1 FROM knowledge_files WHERE id = %s FOR SHARE", (file_id,)
            ).fetchone():
                raise NotFound("file", file_id)
            inserted = db.execute(
                "INSERT INTO knowledge_store_files (store_id, file_id, status, created_at) "
                "VALUES (%s, %s, 'in_progress', %s) ON CONFLICT (store_id, file_id) DO NOTHING",
                (store_id, file_id, now()),
            ).rowcount
        if inserted:
            self._claim((store_id, file_id))
        return self.get_store_file(store_id, file_id)

    def get_store_file(self, store_id: str, file_id: str) -> StoreFileRecord:
        rows = self._rows(
            _STORE_FILE + "WHERE sf.store_id = %s AND sf.file_id = %s", (store_id, file_id)
        )
        if not rows:
            raise NotFound("vector_store_file", file_id)
        return _store_file(rows[0])

    def list_store_files(self, store_id: str) -> list[StoreFileRecord]:
        self.get_vector_store(store_id)
        rows = self._rows(_STORE_FILE + "WHERE sf.store_id = %s ORDER BY sf.seq DESC", (store_id,))
        return [_store_file(row) for row in rows]

    def detach_file(self, store_id: str, file_id: str) -> None:
        with self._connection() as db:
            deleted = db.execute(
                "DELETE FROM knowledge_store_files WHERE store_id = %s AND file_id = %s",
                (store_id, file_id),
            )
            if deleted.rowcount == 0:
                raise NotFound("vector_store_file", file_id)
        self._release([(store_id, file_id)])

    def set_progress(self, store_id: str, file_id: str, done: int, total: int) -> None:
        with self._connection() as db:
            _lock_in_progress(db, store_id, file_id)
            db.execute(
                "UPDATE knowledge_store_files SET chunks_done = %s, chunks_total = %s "
                "WHERE store_id = %s AND file_id = %s",
                (done, total, store_id, file_id),
            )

    def fail(
        self, store_id: str, file_id: str, reason: str, code: ErrorCode = "server_error"
    ) -> None:
        with self._connection() as db:
            _lock_in_progress(db, store_id, file_id)
            db.execute(
                "UPDATE knowledge_store_files SET status = 'failed', last_error = %s, "
                "last_error_code = %s WHERE store_id = %s AND file_id = %s",
                (_text(reason), code, store_id, file_id),
            )
        self._release([(store_id, file_id)])

    def complete(
        self,
        store_id: str,
        file_id: str,
        chunks: Sequence[NewChunk],
        vectors: Sequence[Sequence[float]],
    ) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        # Segmenting takes longer than storing: done before the transaction starts.
        rows = [
            (store_id, file_id, _text(chunk.text), chunk.page,
             None if chunk.heading is None else _text(chunk.heading),
             chunk.start, chunk.end, _tsvector(terms(chunk.text)))
            for chunk in chunks
        ]  # fmt: skip
        usage = sum(chunk_usage_bytes(chunk.text, self.dimensions) for chunk in chunks)
        with self._connection() as db:
            _lock_in_progress(db, store_id, file_id)  # a second completer waits, then stops
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO knowledge_chunks (store_id, file_id, text, page, heading, "
                    "start_offset, end_offset, terms, embedding) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::tsvector, %s::vector)",
                    (
                        (*row, _vector(checked_vector(vector, self.dimensions)))
                        for row, vector in zip(rows, vectors, strict=True)
                    ),
                )
            db.execute(
                "UPDATE knowledge_store_files SET status = 'completed', usage_bytes = %s, "
                "chunks_done = %s, chunks_total = %s WHERE store_id = %s AND file_id = %s",
                (usage, len(chunks), len(chunks), store_id, file_id),
            )
        self._release([(store_id, file_id)])

    def unfinished_jobs(self) -> list[StoreFileRecord]:
        candidates = self._rows(_STORE_FILE + "WHERE sf.status = 'in_progress' ORDER BY sf.seq")
        mine = []
        for row in candidates:
            job = (row["store_id"], row["file_id"])
            if not self._claim(job):
                continue  # a live replica works on it
            try:  # it may have been finished between the read and the claim
                record = self.get_store_file(*job)
            except NotFound:
                record = None
            if record is None or record.status != "in_progress":
                self._release([job])
            else:
                mine.append(record)
        return mine

    # ---- retrieval ----

    def search_lexical(
        self, store_ids: Sequence[str], query_terms: Sequence[str], limit: int
    ) -> list[ScoredChunk]:
        # Each term a quoted lexeme of a tsquery literal, so & | ! ( : * in a question are
        # characters to look for, never query syntax.
        lexemes = [_lexeme(term) for term in usable_terms(query_terms)]
        if not lexemes or not store_ids or limit <= 0:
            return []
        rows = self._rows(
            "SELECT id, ts_rank(terms, %(query)s::tsquery, 1) AS score FROM knowledge_chunks "
            "WHERE terms @@ %(query)s::tsquery AND store_id = ANY(%(stores)s) "
            "ORDER BY score DESC, id LIMIT %(limit)s",
            {"query": " | ".join(lexemes), "stores": list(store_ids), "limit": limit},
        )
        return [ScoredChunk(str(row["id"]), float(row["score"])) for row in rows]

    def search_vector(
        self, store_ids: Sequence[str], vector: Sequence[float], limit: int
    ) -> list[ScoredChunk]:
        parameters = {
            "query": _vector(checked_vector(vector, self.dimensions)),
            "stores": list(dict.fromkeys(store_ids)),
            "limit": limit,
        }
        if not store_ids or limit <= 0:
            return []
        with self._connection() as db:
            db.execute(
                "SELECT set_config('hnsw.ef_search', %s, true)",
                (str(min(max(40, 4 * limit), MAX_EF_SEARCH)),),
            )
            select = (
                "SELECT id, 1 - (embedding <=> %(query)s::vector) AS similarity "
                "FROM knowledge_chunks WHERE store_id = ANY(%(stores)s) "
            )
            rows = db.execute(
                (select + "ORDER BY embedding <=> %(query)s::vector LIMIT %(limit)s").encode(),
                parameters,
            ).fetchall()
            if len(rows) < limit:  # the index came back short: rank these stores exactly
                rows = db.execute(
                    (select + "ORDER BY similarity DESC LIMIT %(limit)s").encode(), parameters
                ).fetchall()
        ranked = sorted(rows, key=lambda row: (-row["similarity"], row["id"]))
        return [ScoredChunk(str(row["id"]), float(row["similarity"])) for row in ranked]

    def get_chunks(self, chunk_ids: Sequence[str]) -> list[StoredChunk]:
        numbers = [int(chunk_id) for chunk_id in chunk_ids if is_chunk_id(chunk_id)]
        if not numbers:
            return []
        rows = self._rows(
            "SELECT c.*, f.filename FROM knowledge_chunks c "
            "JOIN knowledge_files f ON f.id = c.file_id WHERE c.id = ANY(%s)",
            (numbers,),
        )
        found = {str(row["id"]): _chunk(row) for row in rows}
        return [found[chunk_id] for chunk_id in chunk_ids if chunk_id in found]

    def close(self) -> None:
        with self._claims_lock:
            if self._claims_connection is not None:
                self._claims_connection.close()  # its advisory locks go with it
                self._claims_connection = None
            self._claimed.clear()
        self._pool.close()


def _lock_in_progress(db: psycopg.Connection[Any], store_id: str, file_id: str) -> None:
    row = db.execute(
        "SELECT status FROM knowledge_store_files WHERE store_id = %s AND file_id = %s FOR UPDATE",
        (store_id, file_id),
    ).fetchone()
    if row is None:
        raise NotFound("vector_store_file", file_id)
    if row["status"] != "in_progress":
        raise JobClosed(store_id, file_id, row["status"])


def _lock_key(job: tuple[str, str]) -> int:
    digest = hashlib.blake2b(f"{job[0]}/{job[1]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL, which PDFs' text layers sometimes carry."""
    return value.replace("\x00", "\ufffd")


def _lexeme(term: str) -> str:
    """A term as a quoted lexeme of tsvector/tsquery input."""
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def _tsvector(document_terms: list[str]) -> str:
    """tsvector input with positions (1..16383, at most 256 per lexeme, as PostgreSQL keeps)."""
    positions: dict[str, list[int]] = {}
    for position, term in enumerate(document_terms, start=1):
        places = positions.setdefault(term, [])
        place = min(position, 16383)
        if len(places) < 256 and (not places or places[-1] != place):
            places.append(place)
    return " ".join(
        f"{_lexeme(term)}:{','.join(map(str, places))}" for term, places in positions.items()
    )


def _vector(values: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(value)) for value in values) + "]"


def _file(row: dict[str, Any]) -> FileRecord:
    return FileRecord(row["id"], row["filename"], row["purpose"], row["bytes"], row["created_at"])


def _vector_store(row: dict[str, Any]) -> VectorStoreRecord:
    counts = FileCounts(
        row["in_progress"], row["completed"], row["failed"], row["cancelled"], row["total"]
    )
    return VectorStoreRecord(
        row["id"], row["name"], row["metadata"], row["created_at"], int(row["usage_bytes"]),
        counts,
    )  # fmt: skip


def _store_file(row: dict[str, Any]) -> StoreFileRecord:
    return StoreFileRecord(
        vector_store_id=row["store_id"],
        file_id=row["file_id"],
        filename=row["filename"],
        status=row["status"],
        created_at=row["created_at"],
        usage_bytes=row["usage_bytes"],
        chunks_done=row["chunks_done"],
        chunks_total=row["chunks_total"],
        last_error=row["last_error"],
        last_error_code=row["last_error_code"],
    )


def _chunk(row: dict[str, Any]) -> StoredChunk:
    return StoredChunk(
        chunk_id=str(row["id"]),
        vector_store_id=row["store_id"],
        file_id=row["file_id"],
        filename=row["filename"],
        text=row["text"],
        page=row["page"],
        heading=row["heading"],
        start=row["start_offset"],
        end=row["end_offset"],
    )
