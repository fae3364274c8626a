"""The knowledge store in one SQLite file: FTS5 over the chunks' terms, float32 vectors beside them.

This Python's sqlite3 cannot load extensions (no sqlite-vec), so vector search is brute force
with numpy over one matrix of unit vectors per vector store, cached in memory and dropped when
that store's chunks change (10,000 chunks of 384 dimensions: 15 MB, a few ms per query).

One connection behind a lock serves every thread: each call takes milliseconds, a sqlite3
connection holds one transaction state that threads must not interleave on, and the cached
matrices need the same lock. Another process (the bulk CLI) may write the same file: WAL lets
readers go on meanwhile, busy_timeout waits for its writes, and PRAGMA data_version tells this
process to drop its matrices.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from pocketchat.knowledge.lexical import document_terms
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

SCHEMA_VERSION = 1  # PRAGMA user_version; a later schema migrates from it
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, filename TEXT NOT NULL, purpose TEXT NOT NULL,
    bytes INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS file_data (
    file_id TEXT PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS vector_stores (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, metadata TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS store_files (
    store_id TEXT NOT NULL REFERENCES vector_stores(id) ON DELETE CASCADE,
    file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('in_progress', 'completed', 'failed', 'cancelled')),
    created_at INTEGER NOT NULL,
    usage_bytes INTEGER NOT NULL DEFAULT 0,
    chunks_done INTEGER NOT NULL DEFAULT 0,
    chunks_total INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_error_code TEXT,
    claimed_by TEXT,  -- the open store working on the job: 'pid:process start:instance'
    PRIMARY KEY (store_id, file_id));
CREATE INDEX IF NOT EXISTS store_files_by_file ON store_files(file_id);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    store_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    text TEXT NOT NULL,
    page INTEGER,
    heading TEXT,
    start_offset INTEGER NOT NULL,
    end_offset INTEGER NOT NULL,
    vector BLOB NOT NULL,  -- float32, little-endian
    FOREIGN KEY (store_id, file_id) REFERENCES store_files(store_id, file_id) ON DELETE CASCADE);
CREATE INDEX IF NOT EXISTS chunks_by_job ON chunks(store_id, file_id);
-- The terms are pre-segmented by lexical.terms(), so unicode61 only splits at the spaces.
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_terms
    USING fts5(terms, tokenize = 'unicode61 remove_diacritics 0');
CREATE TRIGGER IF NOT EXISTS chunks_forget_terms AFTER DELETE ON chunks BEGIN
    DELETE FROM chunk_terms WHERE rowid = old.id;
END;
"""

_STORE_FILE = """SELECT sf.*, f.filename FROM store_files sf JOIN files f ON f.id = sf.file_id"""
_VECTOR_STORE = """
SELECT v.id, v.name, v.metadata, v.created_at,
       COALESCE(SUM(sf.usage_bytes) FILTER (WHERE sf.status = 'completed'), 0) AS usage_bytes,
       COUNT(sf.file_id) FILTER (WHERE sf.status = 'in_progress') AS in_progress,
       COUNT(sf.file_id) FILTER (WHERE sf.status = 'completed') AS completed,
       COUNT(sf.file_id) FILTER (WHERE sf.status = 'failed') AS failed,
       COUNT(sf.file_id) FILTER (WHERE sf.status = 'cancelled') AS cancelled,
       COUNT(sf.file_id) AS total
FROM vector_stores v LEFT JOIN store_files sf ON sf.store_id = v.id
"""

# The stores open in this process, by instance token: their claims are alive.
_open_instances: set[str] = set()
_PROCESS_START = f"{psutil.Process().create_time():.2f}"


def _claim_alive(claim: str) -> bool:
    """Whether the store that claimed a job is still open. SQLite is local, so a claim
    names a process on this machine; its start time tells a reused pid apart."""
    pid, started, instance = claim.split(":")
    if int(pid) == os.getpid():
        return instance in _open_instances
    try:
        return f"{psutil.Process(int(pid)).create_time():.2f}" == started
    except psutil.Error:
        return False


class SqliteStore:
    def __init__(self, path: Path, *, dimensions: int) -> None:
        self.path = path
        self.dimensions = dimensions
        self._instance = uuid.uuid4().hex
        self._claim = f"{os.getpid()}:{_PROCESS_START}:{self._instance}"
        self._lock = threading.RLock()
        self._matrices: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # ids, unit vectors
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        try:
            self._open_schema()
        except BaseException:
            self._db.close()
            raise
        self._data_version = self._db.execute("PRAGMA data_version").fetchone()[0]
        _open_instances.add(self._instance)

    def _open_schema(self) -> None:
        db = self._db
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA foreign_keys = ON")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise KnowledgeError(
                f"{self.path} has knowledge schema {version}, newer than this pocketchat's "
                f"({SCHEMA_VERSION}): upgrade pocketchat or use another file."
            )
        if version < SCHEMA_VERSION:
            with self._write():
                for statement in _statements(SCHEMA):
                    db.execute(statement)
                db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('dimensions', ?)", (str(self.dimensions),)
                )
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        stored = int(db.execute("SELECT value FROM meta WHERE key = 'dimensions'").fetchone()[0])
        if stored != self.dimensions:
            raise DimensionMismatch(stored, self.dimensions)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE), so it never has to be
        retried half-way for a lock another process holds."""
        with self._lock, _unavailable_when_locked():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock, _unavailable_when_locked():
            return self._db.execute(sql, parameters).fetchall()

    # ---- files ----

    def add_file(self, filename: str, data: bytes, purpose: str) -> FileRecord:
        record = FileRecord(new_id("file-"), filename, purpose, len(data), now())
        with self._write() as db:
            db.execute(
                "INSERT INTO files VALUES (?, ?, ?, ?, ?)",
                (record.id, filename, purpose, record.bytes, record.created_at),
            )
            db.execute("INSERT INTO file_data VALUES (?, ?)", (record.id, data))
        return record

    def get_file(self, file_id: str) -> FileRecord:
        rows = self._read("SELECT * FROM files WHERE id = ?", (file_id,))
        if not rows:
            raise NotFound("file", file_id)
        return _file(rows[0])

    def file_bytes(self, file_id: str) -> bytes:
        rows = self._read("SELECT data FROM file_data WHERE file_id = ?", (file_id,))
        if not rows:
            raise NotFound("file", file_id)
        return bytes(rows[0]["data"])

    def list_files(self) -> list[FileRecord]:
        return [_file(row) for row in self._read("SELECT * FROM files ORDER BY rowid DESC")]

    def delete_file(self, file_id: str) -> None:
        with self._write() as db:
            if db.execute("DELETE FROM files WHERE id = ?", (file_id,)).rowcount == 0:
                raise NotFound("file", file_id)
            self._matrices.clear()

    # ---- vector stores ----

    def create_vector_store(
        self, name: str, metadata: dict[str, str] | None = None
    ) -> VectorStoreRecord:
        store_id = new_id("vs_")
        with self._write() as db:
            db.execute(
                "INSERT INTO vector_stores VALUES (?, ?, ?, ?)",
                (store_id, name, json.dumps(metadata or {}), now()),
            )
        return self.get_vector_store(store_id)

    def get_vector_store(self, store_id: str) -> VectorStoreRecord:
        rows = self._read(_VECTOR_STORE + "WHERE v.id = ? GROUP BY v.id", (store_id,))
        if not rows:
            raise NotFound("vector_store", store_id)
        return _vector_store(rows[0])

    def list_vector_stores(self) -> list[VectorStoreRecord]:
        rows = self._read(_VECTOR_STORE + "GROUP BY v.id ORDER BY v.rowid DESC")
        return [_vector_store(row) for row in rows]

    def update_vector_store(
        self, store_id: str, *, name: str | None = None, metadata: dict[str, str] | None = None
    ) -> VectorStoreRecord:
        with self._write() as db:
            if not db.execute("SELECT 1 FROM vector_stores WHERE id = ?", (store_id,)).fetchone():
                raise NotFound("vector_store", store_id)
            if name is not None:
                db.execute("UPDATE vector_stores SET name = ? WHERE id = ?", (name, store_id))
            if metadata is not None:
                db.execute(
                    "UPDATE vector_stores SET metadata = ? WHERE id = ?",
                    (json.dumps(metadata), store_id),
                )
        return self.get_vector_store(store_id)

    def delete_vector_store(self, store_id: str) -> None:
        with self._write() as db:
            if db.execute("DELETE FROM vector_stores WHERE id = ?", (store_id,)).rowcount == 0:
                raise NotFound("vector_store", store_id)
            self._matrices.pop(store_id, None)

    # ---- indexing jobs ----

    def attach_file(self, store_id: str, file_id: str) -> StoreFileRecord:
        with self._write() as db:
            if not db.execute("SELECT 1 FROM vector_stores WHERE id = ?", (store_id,)).fetchone():
                raise NotFound("vector_store", store_id)
            if not db.execute("SELECT 1 FROM files WHERE id = ?", (file_id,)).fetchone():
                raise NotFound("file", file_id)
            db.execute(
                "INSERT INTO store_files (store_id, file_id, status, created_at, claimed_by) "
                "VALUES (?, ?, 'in_progress', ?, ?) ON CONFLICT (store_id, file_id) DO NOTHING",
                (store_id, file_id, now(), self._claim),
            )
        return self.get_store_file(store_id, file_id)

    def get_store_file(self, store_id: str, file_id: str) -> StoreFileRecord:
        rows = self._read(_STORE_FILE + " WHERE sf.store_id = ? AND sf.file_id = ?",
                          (store_id, file_id))  # fmt: skip
        if not rows:
            raise NotFound("vector_store_file", file_id)
        return _store_file(rows[0])

    def list_store_files(self, store_id: str) -> list[StoreFileRecord]:
        self.get_vector_store(store_id)
        rows = self._read(_STORE_FILE + " WHERE sf.store_id = ? ORDER BY sf.rowid DESC",
                          (store_id,))  # fmt: skip
        return [_store_file(row) for row in rows]

    def detach_file(self, store_id: str, file_id: str) -> None:
        with self._write() as db:
            deleted = db.execute(
                "DELETE FROM store_files WHERE store_id = ? AND file_id = ?", (store_id, file_id)
            )
            if deleted.rowcount == 0:
                raise NotFound("vector_store_file", file_id)
            self._matrices.pop(store_id, None)

    def set_progress(self, store_id: str, file_id: str, done: int, total: int) -> None:
        with self._write() as db:
            _require_in_progress(db, store_id, file_id)
            db.execute(
                "UPDATE store_files SET chunks_done = ?, chunks_total = ? "
                "WHERE store_id = ? AND file_id = ?",
                (done, total, store_id, file_id),
            )

    def fail(
        self, store_id: str, file_id: str, reason: str, code: ErrorCode = "server_error"
    ) -> None:
        with self._write() as db:
            _require_in_progress(db, store_id, file_id)
            db.execute(
                "UPDATE store_files SET status = 'failed', last_error = ?, last_error_code = ?, "
                "claimed_by = NULL WHERE store_id = ? AND file_id = ?",
                (reason, code, store_id, file_id),
            )

    def complete(
        self,
        store_id: str,
        file_id: str,
        chunks: Sequence[NewChunk],
        vectors: Sequence[Sequence[float]],
    ) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        # Segmenting takes longer than storing: done before the lock is taken.
        chunk_terms = [document_terms(chunk.text) for chunk in chunks]
        usage = sum(chunk_usage_bytes(chunk.text, self.dimensions) for chunk in chunks)
        with self._write() as db:
            _require_in_progress(db, store_id, file_id)
            for chunk, terms, vector in zip(chunks, chunk_terms, vectors, strict=True):
                blob = np.asarray(checked_vector(vector, self.dimensions), dtype="<f4").tobytes()
                inserted = db.execute(
                    "INSERT INTO chunks (store_id, file_id, text, page, heading, start_offset, "
                    "end_offset, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (store_id, file_id, chunk.text, chunk.page, chunk.heading, chunk.start,
                     chunk.end, blob),
                )  # fmt: skip
                db.execute(
                    "INSERT INTO chunk_terms (rowid, terms) VALUES (?, ?)",
                    (inserted.lastrowid, terms),
                )
            db.execute(
                "UPDATE store_files SET status = 'completed', usage_bytes = ?, chunks_done = ?, "
                "chunks_total = ?, claimed_by = NULL WHERE store_id = ? AND file_id = ?",
                (usage, len(chunks), len(chunks), store_id, file_id),
            )
            self._matrices.pop(store_id, None)

    def unfinished_jobs(self) -> list[StoreFileRecord]:
        with self._write() as db:
            rows = db.execute(
                _STORE_FILE + " WHERE sf.status = 'in_progress' ORDER BY sf.rowid"
            ).fetchall()
            mine = [
                row
                for row in rows
                if row["claimed_by"] in (self._claim, None) or not _claim_alive(row["claimed_by"])
            ]
            db.executemany(
                "UPDATE store_files SET claimed_by = ? WHERE store_id = ? AND file_id = ?",
                [(self._claim, row["store_id"], row["file_id"]) for row in mine],
            )
        return [_store_file(row) for row in mine]

    # ---- retrieval ----

    def search_lexical(
        self, store_ids: Sequence[str], query_terms: Sequence[str], limit: int
    ) -> list[ScoredChunk]:
        # Each term a quoted FTS5 string ("" inside doubles), so AND, NEAR, *, ( and quotes
        # in a question are words to look for, never query syntax.
        terms = ['"' + term.replace('"', '""') + '"' for term in usable_terms(query_terms)]
        if not terms or not store_ids or limit <= 0:
            return []
        places = ", ".join("?" * len(store_ids))
        rows = self._read(
            "SELECT c.id, bm25(chunk_terms) AS rank FROM chunk_terms "
            "JOIN chunks c ON c.id = chunk_terms.rowid "
            f"WHERE chunk_terms MATCH ? AND c.store_id IN ({places}) "
            "ORDER BY rank, c.id LIMIT ?",
            [" OR ".join(terms), *store_ids, limit],
        )
        return [ScoredChunk(str(row["id"]), -row["rank"]) for row in rows]

    def search_vector(
        self, store_ids: Sequence[str], vector: Sequence[float], limit: int
    ) -> list[ScoredChunk]:
        query = np.asarray(checked_vector(vector, self.dimensions), dtype=np.float32)
        query /= max(float(np.linalg.norm(query)), 1e-12)
        with self._lock, _unavailable_when_locked():
            matrices = [self._matrix(store_id) for store_id in dict.fromkeys(store_ids)]
        if not matrices or limit <= 0:
            return []
        ids = np.concatenate([ids for ids, _ in matrices])
        # einsum, not `@`: the BLAS matrix-vector product spins its worker threads after it
        # returns, which doubled the FTS query that follows on 2 cores (measured: 48 → 25 ms).
        similarities = np.concatenate([np.einsum("ij,j->i", unit, query) for _, unit in matrices])
        if len(ids) > limit:
            best = np.argpartition(-similarities, limit - 1)[:limit]
            ids, similarities = ids[best], similarities[best]
        order = np.lexsort((ids, -similarities))
        return [ScoredChunk(str(ids[i]), float(similarities[i])) for i in order]

    def _matrix(self, store_id: str) -> tuple[np.ndarray, np.ndarray]:
        """A vector store's chunk ids and unit vectors, loaded once (the lock is held)."""
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:  # another connection committed: drop everything
            self._matrices.clear()
            self._data_version = version
        cached = self._matrices.get(store_id)
        if cached is None:
            rows = self._db.execute(
                "SELECT id, vector FROM chunks WHERE store_id = ? ORDER BY id", (store_id,)
            ).fetchall()
            ids = np.array([row[0] for row in rows], dtype=np.int64)
            vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype="<f4")
            matrix = vectors.reshape(len(rows), self.dimensions).astype(np.float32)
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            cached = ids, matrix / np.maximum(norms, 1e-12)
            self._matrices[store_id] = cached
        return cached

    def get_chunks(self, chunk_ids: Sequence[str]) -> list[StoredChunk]:
        numbers = [int(chunk_id) for chunk_id in chunk_ids if is_chunk_id(chunk_id)]
        if not numbers:
            return []
        rows = self._read(
            "SELECT c.*, f.filename FROM chunks c JOIN files f ON f.id = c.file_id "
            f"WHERE c.id IN ({', '.join('?' * len(numbers))})",
            numbers,
        )
        found = {str(row["id"]): _chunk(row) for row in rows}
        return [found[chunk_id] for chunk_id in chunk_ids if chunk_id in found]

    def close(self) -> None:
        with self._lock:
            if self._instance not in _open_instances:
                return
            _open_instances.discard(self._instance)
            try:
                self._db.execute(
                    "UPDATE store_files SET claimed_by = NULL WHERE claimed_by = ?", (self._claim,)
                )
            finally:
                self._matrices.clear()
                self._db.close()


@contextmanager
def _unavailable_when_locked() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            raise StoreUnavailable(f"The knowledge database stayed locked: {error}.") from error
        raise


def _statements(script: str) -> list[str]:
    """The script's statements, one at a time (executescript would commit the transaction)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    return statements


def _require_in_progress(db: sqlite3.Connection, store_id: str, file_id: str) -> None:
    row = db.execute(
        "SELECT status FROM store_files WHERE store_id = ? AND file_id = ?", (store_id, file_id)
    ).fetchone()
    if row is None:
        raise NotFound("vector_store_file", file_id)
    if row["status"] != "in_progress":
        raise JobClosed(store_id, file_id, row["status"])


def _file(row: sqlite3.Row) -> FileRecord:
    return FileRecord(row["id"], row["filename"], row["purpose"], row["bytes"], row["created_at"])


def _vector_store(row: sqlite3.Row) -> VectorStoreRecord:
    counts = FileCounts(
        row["in_progress"], row["completed"], row["failed"], row["cancelled"], row["total"]
    )
    return VectorStoreRecord(
        row["id"], row["name"], json.loads(row["metadata"]), row["created_at"],
        row["usage_bytes"], counts,
    )  # fmt: skip


def _store_file(row: sqlite3.Row) -> StoreFileRecord:
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


def _chunk(row: sqlite3.Row) -> StoredChunk:
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
