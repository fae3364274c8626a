"""GET /openapi.json: the API described for clients and tools (schemas from the pydantic models)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from pocketchat import __version__
from pocketchat.api import knowledge_schemas, responses
from pocketchat.api.embeddings import EmbeddingRequest
from pocketchat.api.knowledge_openapi import knowledge_paths
from pocketchat.api.openapi_parts import get_only, json_content, schema_ref, with_errors
from pocketchat.api.schemas import ChatCompletionRequest

bp = Blueprint("openapi", __name__)


def _stream_event() -> dict[str, Any]:
    """Each event; its data is a ChatCompletionChunk or a StreamError as JSON, or `[DONE]`."""
    frame = {"oneOf": [schema_ref("ChatCompletionChunk"), schema_ref("StreamError")]}
    event: dict[str, Any] = {"allOf": [schema_ref("StreamEvent")]}
    chunk = {"type": "string", "contentMediaType": "application/json", "contentSchema": frame}
    event["properties"] = {"data": {"anyOf": [{"const": "[DONE]"}, chunk]}}
    return event


def _components() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (ChatCompletionRequest, "validation"),
        (EmbeddingRequest, "validation"),
    ]
    models += [(model, "validation") for model in knowledge_schemas.REQUESTS]
    models += [(model, "serialization") for model in responses.DOCUMENTED]
    models += [(model, "serialization") for model in knowledge_schemas.DOCUMENTED]
    _, schema = models_json_schema(models, ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = schema["$defs"]
    return components


def build_spec() -> dict[str, Any]:
    chat_post = {
        "summary": "Chat completion (OpenAI compatible), streamed as SSE when `stream` is true",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema_ref("ChatCompletionRequest")}},
        },
        "responses": with_errors(
            {
                "description": "A chat.completion object, or an event stream of "
                "chat.completion.chunk frames ending with `data: [DONE]` "
                "(status frames, usage/timings/context extension; see the README's API section)",
                "content": {
                    "application/json": {"schema": schema_ref("ChatCompletion")},
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
        "responses": with_errors(json_content("Cancelled", "CancelResult"), 503),
    }
    health = get_only(
        "Liveness and readiness (no auth)",
        json_content("Model loaded", "Health"),
    )
    health["get"]["security"] = []
    health["get"]["responses"]["503"] = json_content(
        "Loading, or the model failed to load", "Health"
    )
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
                    "content": {"application/json": {"schema": schema_ref("EmbeddingRequest")}},
                },
                "responses": with_errors(
                    json_content("L2-normalized vectors", "EmbeddingList"), 400, 413, 415, 503
                ),
            }
        },
        **knowledge_paths(),
        "/v1/models": get_only("The served model", json_content("Model list", "ModelList"), 503),
        "/api/health": health,
        "/api/info": get_only(
            "Model, quantization, context, threads, slots, versions, fallback",
            json_content("Server information", "ServerInfo"),
        ),
        "/metrics": get_only("Prometheus metrics", metrics_ok),
        "/openapi.json": get_only(
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
