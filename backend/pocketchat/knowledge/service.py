"""The knowledge base as the app uses it: uploads, indexing in the background, search, passages.

Indexing a document (extract, chunk, embed, store) runs in one worker thread. The jobs live in
the store, not in memory (a file attached to a vector store is `in_progress` until its chunks
are stored), so the queue is bounded by what users uploaded and a restart resumes it. On 2
cores the embedder and the chat engine share the CPU: the worker pauses between batches while
replies are being generated, so indexing costs a chatting user little.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from pocketchat.engine.embedder import Embedder
from pocketchat.knowledge.chunking import Chunk, chunk_document
from pocketchat.knowledge.extract import FORMATS, UnreadableDocument, extract
from pocketchat.knowledge.lexical import terms
from pocketchat.knowledge.search import Hit, hybrid_search
from pocketchat.knowledge.store import (
    ErrorCode,
    FileRecord,
    JobClosed,
    KnowledgeStore,
    NotFound,
    StoreFileRecord,
)
from pocketchat.languages import language_of

log = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS = tuple(sorted(FORMATS))
# Chunks embedded per call: about 4,000 tokens, a second or two of work on 2 cores, so a reply
# that starts meanwhile waits at most that long for the CPU.
EMBED_BATCH = 16
# While replies are generated the worker waits; after this long it embeds one batch anyway,
# so a server that is never idle still indexes, slowly.
MAX_YIELD_SECONDS = 10.0
IDLE_POLL_SECONDS = 5.0
# A passage the question shares no word with is given to the model only if it is this similar
# (cosine). Measured with all-MiniLM-L6-v2 on English: related passages 0.45-0.65, unrelated
# ones below 0.1.
MIN_SIMILARITY = 0.3


class UploadRefused(ValueError):
    """An upload that cannot be indexed; the message says why in one sentence."""


class UploadTooLarge(UploadRefused):
    """Over MAX_UPLOAD_BYTES."""


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, numbered as the answer cites it ([1], [2], …)."""

    number: int
    hit: Hit


def embedded_text(chunk: Chunk) -> str:
    """What is embedded for a chunk: its heading path too, which often says what the text is
    about ("住宿费" over a paragraph of numbers)."""
    return f"{chunk.heading}\n{chunk.text}" if chunk.heading else chunk.text


class KnowledgeBase:
    def __init__(
        self,
        store: KnowledgeStore,
        embedder: Embedder,
        *,
        max_upload_bytes: int,
        replies_running: Callable[[], bool] = lambda: False,
        chunk_tokens: int = 256,
        overlap_tokens: int = 32,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.max_upload_bytes = max_upload_bytes
        self.replies_running = replies_running
        self.chunk_tokens = min(chunk_tokens, embedder.max_tokens)
        self.overlap_tokens = overlap_tokens
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._run, name="indexer", daemon=True)

    def start(self) -> None:
        """Start the worker; it first resumes the jobs a restart interrupted."""
        self._worker.start()

    def close(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._worker.is_alive():
            self._worker.join(timeout)
        self.store.close()

    # ---- files and vector stores (the API's side) ----

    def upload(self, filename: str, data: bytes, purpose: str) -> FileRecord:
        name = PurePath(filename.replace("\\", "/")).name.strip()
        if not name:
            raise UploadRefused("the file has no name")
        if len(data) > self.max_upload_bytes:
            raise UploadTooLarge(
                f"{name} is larger than the limit of {self.max_upload_bytes:,} bytes "
                "(MAX_UPLOAD_BYTES)"
            )
        if not data:
            raise UploadRefused(f"{name} is empty")
        extension = PurePath(name).suffix.lower()
        if extension not in SUPPORTED_EXTENSIONS:
            raise UploadRefused(
                f"unsupported file type {extension or '(none)'}; supported: "
                + ", ".join(SUPPORTED_EXTENSIONS)
            )
        return self.store.add_file(name, data, purpose)

    def attach(self, store_id: str, file_id: str) -> StoreFileRecord:
        record = self.store.attach_file(store_id, file_id)
        self._wake.set()
        return record

    # ---- retrieval ----

    def search(self, store_ids: Sequence[str], query: str, limit: int) -> list[Hit]:
        for store_id in store_ids:
            self.store.get_vector_store(store_id)  # NotFound names the missing one
        if not query.strip():
            return []
        if self._embedder_knows(query):
            vector = self.embedder.embed_query(query)
            return hybrid_search(self.store, store_ids, query, vector, limit)
        # Measured on the recall set: MiniLM's rankings of Chinese passages are close to noise
        # (recall@1 0.11), and fused with BM25 they pulled its 0.63 down to 0.20. So the words
        # rank first, and the vectors (embedded only then) fill the places they leave empty.
        hits = hybrid_search(self.store, store_ids, query, None, limit, mode="lexical")
        if len(hits) < limit:
            found = {hit.chunk_id for hit in hits}
            vector = self.embedder.embed_query(query)
            nearest = hybrid_search(self.store, store_ids, query, vector, limit, mode="vector")
            hits += [hit for hit in nearest if hit.chunk_id not in found][: limit - len(hits)]
        return hits

    def _embedder_knows(self, text: str) -> bool:
        languages = self.embedder.languages
        return languages is None or language_of(text) in languages

    def passages(self, store_ids: Sequence[str], query: str, limit: int) -> list[Passage]:
        """The relevant hits, numbered for citing: an empty list means the documents do not
        answer the question, which the model is then told instead of a nearest miss."""
        words = {term for term in terms(query) if len(term) > 1}
        hits = [
            hit for hit in self.search(store_ids, query, limit) if self._relevant(hit, query, words)
        ]
        return [Passage(number, hit) for number, hit in enumerate(hits, start=1)]

    def _relevant(self, hit: Hit, query: str, words: set[str]) -> bool:
        """It shares a word with the question (one Chinese character such as 上 or 的 is not
        a word), or the embedder, in a language it knows, finds it similar enough."""
        if hit.lexical_rank is not None and words & set(terms(hit.text)):
            return True
        return self._embedder_knows(query) and (hit.similarity or 0.0) >= MIN_SIMILARITY

    # ---- the worker ----

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                jobs = self.store.unfinished_jobs()
                if jobs:
                    self.index(jobs[0], yield_to_replies=True)
                    continue
            except Exception:
                # The store itself failed (a full disk, a lost database): try again later.
                log.exception("the indexing worker could not reach the knowledge store")
            self._wake.wait(IDLE_POLL_SECONDS)
            self._wake.clear()

    def index(
        self,
        job: StoreFileRecord,
        *,
        yield_to_replies: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Extract, chunk, embed and store one file of a vector store: its job ends completed,
        or failed with the reason. The worker calls it; so does the bulk CLI, without a worker."""
        store_id, file_id = job.vector_store_id, job.file_id
        started = time.monotonic()
        try:
            record = self.store.get_file(file_id)
            document = extract(self.store.file_bytes(file_id), record.filename)
            chunks = chunk_document(
                document,
                self.embedder.count_tokens,
                max_tokens=self.chunk_tokens,
                overlap_tokens=self.overlap_tokens,
            )
            vectors: list[list[float]] = []
            self.store.set_progress(store_id, file_id, 0, len(chunks))
            for begin in range(0, len(chunks), EMBED_BATCH):
                if yield_to_replies and not self._yield_to_replies():
                    return  # stopping: the job stays in_progress and resumes after the restart
                batch = chunks[begin : begin + EMBED_BATCH]
                vectors += self.embedder.embed_passages([embedded_text(c) for c in batch])
                self.store.set_progress(store_id, file_id, len(vectors), len(chunks))
                if on_progress is not None:
                    on_progress(len(vectors), len(chunks))
            self.store.complete(store_id, file_id, chunks, vectors)
            log.info(
                "indexed %s into %s: %d chunks in %.1f s",
                record.filename, store_id, len(chunks), time.monotonic() - started,
            )  # fmt: skip
        except (NotFound, JobClosed):
            pass  # deleted meanwhile, or another replica finished it
        except UnreadableDocument as error:
            self._fail(job, str(error), "invalid_file")
        except Exception as error:
            log.exception("indexing %s into %s failed", file_id, store_id)
            self._fail(job, f"indexing failed: {error}", "server_error")

    def _fail(self, job: StoreFileRecord, reason: str, code: ErrorCode) -> None:
        with contextlib.suppress(NotFound, JobClosed):
            self.store.fail(job.vector_store_id, job.file_id, reason, code)

    def _yield_to_replies(self) -> bool:
        """Wait while replies are being generated (at most MAX_YIELD_SECONDS); False if stopping."""
        deadline = time.monotonic() + MAX_YIELD_SECONDS
        while self.replies_running() and time.monotonic() < deadline:
            if self._stopping.wait(0.05):
                return False
        return not self._stopping.is_set()
