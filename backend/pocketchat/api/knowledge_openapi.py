"""The knowledge routes in /openapi.json: files, vector stores, their files, search."""

from __future__ import annotations

from typing import Any

from pocketchat.api.openapi_parts import json_content, schema_ref, with_errors

# Without a knowledge base (no embedding model, or its database unreachable) every route is 503.
KNOWLEDGE = 503


def _path_params(*names: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in names
    ]


def _operation(
    summary: str, ok: dict[str, Any], *errors: int, body: str | None = None, params: tuple = ()
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": with_errors(ok, KNOWLEDGE, *errors),
    }
    if params:
        operation["parameters"] = _path_params(*params)
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema_ref(body)}},
        }
    return operation


def knowledge_paths() -> dict[str, Any]:
    upload = _operation(
        "Upload a document (multipart: `file`, `purpose`)",
        json_content("The file", "FileObject"),
        400,
        413,
        415,
    )
    upload["requestBody"] = {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "purpose": {"type": "string", "enum": ["assistants", "user_data"]},
                    },
                }
            }
        },
    }
    store = ("vector_store_id",)
    store_file = ("vector_store_id", "file_id")
    return {
        "/v1/files": {
            "post": upload,
            "get": _operation(
                "The uploaded files", json_content("Files, newest first", "FileList")
            ),
        },
        "/v1/files/{file_id}": {
            "get": _operation(
                "One file", json_content("The file", "FileObject"), params=("file_id",)
            ),
            "delete": _operation(
                "Delete a file and its chunks in every vector store",
                json_content("Deleted", "Deleted"),
                params=("file_id",),
            ),
        },
        "/v1/vector_stores": {
            "post": _operation(
                "Create a vector store (a collection), optionally with files to index",
                json_content("The vector store", "VectorStore"),
                400,
                415,
                body="VectorStoreCreate",
            ),
            "get": _operation("The vector stores", json_content("Newest first", "VectorStoreList")),
        },
        "/v1/vector_stores/{vector_store_id}": {
            "get": _operation("One vector store", json_content("It", "VectorStore"), params=store),
            "post": _operation(
                "Rename it or change its metadata",
                json_content("It", "VectorStore"),
                400,
                415,
                body="VectorStoreUpdate",
                params=store,
            ),
            "delete": _operation("Delete it", json_content("Deleted", "Deleted"), params=store),
        },
        "/v1/vector_stores/{vector_store_id}/files": {
            "post": _operation(
                "Index a file into it (in the background: poll the file for its status)",
                json_content("The file's indexing status", "VectorStoreFile"),
                400,
                415,
                body="VectorStoreFileCreate",
                params=store,
            ),
            "get": _operation(
                "Its files and their indexing status",
                json_content("Newest first", "VectorStoreFileList"),
                params=store,
            ),
        },
        "/v1/vector_stores/{vector_store_id}/files/{file_id}": {
            "get": _operation(
                "A file's indexing status: in_progress (with progress), completed or failed "
                "(with last_error)",
                json_content("It", "VectorStoreFile"),
                params=store_file,
            ),
            "delete": _operation(
                "Remove the file from this vector store",
                json_content("Deleted", "Deleted"),
                params=store_file,
            ),
        },
        "/v1/vector_stores/{vector_store_id}/search": {
            "post": _operation(
                "Hybrid search (BM25 with Chinese word segmentation + vectors, fused by rank)",
                json_content("The best passages with their sources", "SearchResultPage"),
                400,
                415,
                body="SearchRequest",
                params=store,
            ),
        },
    }
