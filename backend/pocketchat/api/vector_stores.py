"""/v1/vector_stores: collections of indexed files, the files in them, and search."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from pocketchat.api.files import knowledge_base
from pocketchat.api.json_body import read_json
from pocketchat.api.knowledge_schemas import (
    Deleted,
    FileCounts,
    IndexingProgress,
    LastError,
    SearchContent,
    SearchRequest,
    SearchResult,
    SearchResultPage,
    VectorStore,
    VectorStoreCreate,
    VectorStoreFile,
    VectorStoreFileCreate,
    VectorStoreFileList,
    VectorStoreList,
    VectorStoreUpdate,
)
from pocketchat.api.responses import json_response
from pocketchat.api.schemas import validate
from pocketchat.knowledge.search import Hit
from pocketchat.knowledge.store import StoreFileRecord, VectorStoreRecord

bp = Blueprint("vector_stores", __name__)
# How soon the official client's upload_and_poll asks again while a file is being indexed.
POLL_AFTER_MS = "250"


def vector_store(record: VectorStoreRecord) -> VectorStore:
    counts = record.file_counts
    return VectorStore(
        id=record.id,
        object="vector_store",
        created_at=record.created_at,
        name=record.name,
        usage_bytes=record.usage_bytes,
        file_counts=FileCounts(
            in_progress=counts.in_progress,
            completed=counts.completed,
            failed=counts.failed,
            cancelled=counts.cancelled,
            total=counts.total,
        ),
        status=record.status,
        metadata=record.metadata,
        last_active_at=record.created_at,
        expires_at=None,
        expires_after=None,
    )


def store_file(record: StoreFileRecord) -> VectorStoreFile:
    error = None
    if record.last_error is not None:
        error = LastError(code=record.last_error_code or "server_error", message=record.last_error)
    return VectorStoreFile(
        id=record.file_id,
        object="vector_store.file",
        usage_bytes=record.usage_bytes,
        created_at=record.created_at,
        vector_store_id=record.vector_store_id,
        status=record.status,
        last_error=error,
        filename=record.filename,
        progress=IndexingProgress(chunks_done=record.chunks_done, chunks_total=record.chunks_total),
    )


def _page(items: list[VectorStore] | list[VectorStoreFile]) -> dict[str, Any]:
    """The list envelope's fields (cursor ids of the first and last item; one page)."""
    return {
        "object": "list",
        "data": items,
        "first_id": items[0].id if items else None,
        "last_id": items[-1].id if items else None,
        "has_more": False,
    }


@bp.post("/v1/vector_stores")
def create_vector_store() -> Response:
    body = validate(VectorStoreCreate, read_json())
    knowledge = knowledge_base()
    for file_id in body.file_ids:
        knowledge.store.get_file(file_id)  # 404 before anything is created
    record = knowledge.store.create_vector_store(body.name or "", body.metadata or {})
    for file_id in body.file_ids:
        knowledge.attach(record.id, file_id)
    return json_response(vector_store(knowledge.store.get_vector_store(record.id)))


@bp.get("/v1/vector_stores")
def list_vector_stores() -> Response:
    records = knowledge_base().store.list_vector_stores()
    return json_response(VectorStoreList(**_page([vector_store(r) for r in records])))


@bp.get("/v1/vector_stores/<store_id>")
def get_vector_store(store_id: str) -> Response:
    return json_response(vector_store(knowledge_base().store.get_vector_store(store_id)))


@bp.post("/v1/vector_stores/<store_id>")
def update_vector_store(store_id: str) -> Response:
    body = validate(VectorStoreUpdate, read_json())
    record = knowledge_base().store.update_vector_store(
        store_id, name=body.name, metadata=body.metadata
    )
    return json_response(vector_store(record))


@bp.delete("/v1/vector_stores/<store_id>")
def delete_vector_store(store_id: str) -> Response:
    knowledge_base().store.delete_vector_store(store_id)
    return json_response(Deleted(id=store_id, object="vector_store.deleted", deleted=True))


@bp.post("/v1/vector_stores/<store_id>/files")
def attach_file(store_id: str) -> Response:
    body = validate(VectorStoreFileCreate, read_json())
    return _polled(knowledge_base().attach(store_id, body.file_id))


@bp.get("/v1/vector_stores/<store_id>/files")
def list_store_files(store_id: str) -> Response:
    records = knowledge_base().store.list_store_files(store_id)
    return json_response(VectorStoreFileList(**_page([store_file(r) for r in records])))


@bp.get("/v1/vector_stores/<store_id>/files/<file_id>")
def get_store_file(store_id: str, file_id: str) -> Response:
    return _polled(knowledge_base().store.get_store_file(store_id, file_id))


@bp.delete("/v1/vector_stores/<store_id>/files/<file_id>")
def detach_file(store_id: str, file_id: str) -> Response:
    knowledge_base().store.detach_file(store_id, file_id)
    return json_response(Deleted(id=file_id, object="vector_store.file.deleted", deleted=True))


@bp.post("/v1/vector_stores/<store_id>/search")
def search(store_id: str) -> Response:
    body = validate(SearchRequest, read_json())
    queries = [body.query] if isinstance(body.query, str) else body.query
    hits = knowledge_base().search([store_id], "\n".join(queries), body.max_num_results)
    page = SearchResultPage(
        object="vector_store.search_results.page",
        search_query=queries,
        data=[_result(hit) for hit in hits],
        has_more=False,
        next_page=None,
    )
    return json_response(page)


def _result(hit: Hit) -> SearchResult:
    return SearchResult(
        file_id=hit.file_id,
        filename=hit.filename,
        score=round(hit.score, 6),
        attributes={"page": hit.page, "heading": hit.heading, "chunk_id": hit.chunk_id},
        content=[SearchContent(type="text", text=hit.text)],
    )


def _polled(record: StoreFileRecord) -> Response:
    response = json_response(store_file(record))
    if record.status == "in_progress":
        response.headers["openai-poll-after-ms"] = POLL_AFTER_MS
    return response
