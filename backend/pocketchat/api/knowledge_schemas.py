"""The knowledge routes' bodies, in OpenAI's shapes (files, vector stores, their files, search),
so the official client works unchanged; /openapi.json publishes them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# ---- requests ----


class _Request(BaseModel):
    # OpenAI's clients send fields we do not use (expires_after, chunking_strategy, …): ignored.
    model_config = ConfigDict(strict=True, extra="ignore")


Metadata = dict[str, str]


class VectorStoreCreate(_Request):
    name: str | None = Field(None, max_length=256)
    file_ids: list[str] = Field(default_factory=list, max_length=500)
    metadata: Metadata | None = Field(None, max_length=16)


class VectorStoreUpdate(_Request):
    name: str | None = Field(None, min_length=1, max_length=256)
    metadata: Metadata | None = Field(None, max_length=16)


class VectorStoreFileCreate(_Request):
    file_id: str = Field(min_length=1, max_length=128)


class SearchRequest(_Request):
    query: str | list[str] = Field(description="The question; a list is searched as one text.")
    max_num_results: int = Field(10, ge=1, le=50)


# ---- responses ----


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileObject(_Response):
    id: str
    object: Literal["file"]
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["processed"]


class FileList(_Response):
    object: Literal["list"]
    data: list[FileObject]
    has_more: bool


class Deleted(_Response):
    id: str
    object: Literal["file", "vector_store.deleted", "vector_store.file.deleted"]
    deleted: bool


class FileCounts(_Response):
    in_progress: int
    completed: int
    failed: int
    cancelled: int
    total: int


class VectorStore(_Response):
    id: str
    object: Literal["vector_store"]
    created_at: int
    name: str
    usage_bytes: int
    file_counts: FileCounts
    status: Literal["in_progress", "completed"]
    metadata: Metadata
    last_active_at: int | None
    expires_at: int | None
    expires_after: None


class VectorStoreList(_Response):
    object: Literal["list"]
    data: list[VectorStore]
    first_id: str | None
    last_id: str | None
    has_more: bool


class LastError(_Response):
    code: Literal["server_error", "unsupported_file", "invalid_file"]
    message: str


class IndexingProgress(_Response):
    """pocketchat's extension: how far the indexing of this file has come."""

    chunks_done: int
    chunks_total: int


class VectorStoreFile(_Response):
    id: str
    object: Literal["vector_store.file"]
    usage_bytes: int
    created_at: int
    vector_store_id: str
    status: Literal["in_progress", "completed", "failed", "cancelled"]
    last_error: LastError | None
    filename: str
    progress: IndexingProgress


class VectorStoreFileList(_Response):
    object: Literal["list"]
    data: list[VectorStoreFile]
    first_id: str | None
    last_id: str | None
    has_more: bool


class SearchContent(_Response):
    type: Literal["text"]
    text: str


class SearchResult(_Response):
    file_id: str
    filename: str
    score: float
    attributes: dict[str, str | int | None]
    content: list[SearchContent]


class SearchResultPage(_Response):
    object: Literal["vector_store.search_results.page"]
    search_query: list[str]
    data: list[SearchResult]
    has_more: bool
    next_page: None


DOCUMENTED = (
    FileObject, FileList, Deleted, VectorStore, VectorStoreList, VectorStoreFile,
    VectorStoreFileList, SearchResultPage,
)  # fmt: skip
REQUESTS = (VectorStoreCreate, VectorStoreUpdate, VectorStoreFileCreate, SearchRequest)
