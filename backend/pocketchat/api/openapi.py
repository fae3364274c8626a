"""GET /openapi.json: the API described for clients and tools (schemas from the pydantic models)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from pocketchat import __version__
from pocketchat.api import responses
from pocketchat.api.embeddings import EmbeddingRequest
from pocketchat.api.schemas import ChatCompletionRequest

bp = Blueprint("openapi", __name__)

REASONS = {
    400: "Invalid request (the `param` field names the problem)",
    401: "Missing or wrong API key",
    404: "Not found",
    405: "Method not allowed",
    413: "Body larger than MAX_BODY_BYTES",
    415: "Body is not JSON",
    429: "Queue full; see Retry-After",
    503: "Model loading or server shutting down; see Retry-After",
}
# Every route can answer these: auth is checked first, and a mangled path is a JSON 404/405.
COMMON_ERRORS = (401, 404, 405)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema_name: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema_name)}},
    }


def _responses(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    statuses = sorted(set(errors) | set(COMMON_ERRORS))
    return {"200": ok, **{str(status): _json(REASONS[status], "Error") for status in statuses}}


def _get(summary: str, ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": _responses(ok, *errors)}}


def _stream_event() -> dict[str, Any]:
    """Each event; its data is a ChatCompletionChunk or a StreamError as JSON, or `[DONE]`."""
    frame = {"oneOf": [_ref("ChatCompletionChunk"), _ref("StreamError")]}
    event: dict[str, Any] = {"allOf": [_ref("StreamEvent")]}
    chunk = {"type": "string", "contentMediaType": "application/json", "contentSchema": frame}
    event["properties"] = {"data": {"anyOf": [{"const": "[DONE]"}, chunk]}}
    return event


def _components() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (ChatCompletionRequest, "validation"),
        (EmbeddingRequest, "validation"),
    ]
    models += [(model, "serialization") for model in responses.DOCUMENTED]
    _, schema = models_json_schema(models, ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = schema["$defs"]
    return components


def build_spec() -> dict[str, Any]:
    chat_post = {
        "summary": "Chat completion (OpenAI compatible), streamed as SSE when `stream` is true",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("ChatCompletionRequest")}},
        },
        "responses": _responses(
            {
                "description": "A chat.completion object, or an event stream of "
                "chat.completion.chunk frames ending with `data: [DONE]` "
                "(status frames, usage/timings/context extension; see the README's API section)",
                "content": {
                    "application/json": {"schema": _ref("ChatCompletion")},
                    "text/event-stream": {"schema": _stream_event()},
                },
            },
            400,
            413,
            415,
            429,
            503,
        ),
    }
    cancel = {
        "summary": "Stop a running or queued completion",
        "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "responses": _responses(_json("Cancelled", "CancelResult"), 503),
    }
    health = _get(
        "Liveness and readiness (no auth)",
        _json("Model loaded", "Health"),
    )
    health["get"]["security"] = []
    health["get"]["responses"]["503"] = _json("Loading, or the model failed to load", "Health")
    metrics_ok = {
        "description": "Prometheus text format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    paths: dict[str, Any] = {
        "/v1/chat/completions": {"post": chat_post},
        "/v1/chat/completions/{id}/cancel": {"post": cancel},
        "/v1/embeddings": {
            "post": {
                "summary": "Embeddings (OpenAI compatible); 503 when no embedding model is loaded",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("EmbeddingRequest")}},
                },
                "responses": _responses(
                    _json("L2-normalized vectors", "EmbeddingList"), 400, 413, 415, 503
                ),
            }
        },
        "/v1/models": _get("The served model", _json("Model list", "ModelList"), 503),
        "/api/health": health,
        "/api/info": _get(
            "Model, quantization, context, threads, slots, versions, fallback",
            _json("Server information", "ServerInfo"),
        ),
        "/metrics": _get("Prometheus metrics", metrics_ok),
        "/openapi.json": _get(
            "This document",
            {
                "description": "OpenAPI 3.1",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
        ),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pocketchat",
            "version": __version__,
            "description": "A private chat assistant for ordinary CPUs. "
            "Bearer auth applies to every path but /api/health when API_KEY is set.",
        },
        "paths": paths,
        "components": {
            "schemas": _components(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(build_spec())
