"""GET /openapi.json: the API described for clients and tools (request schema from pydantic)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from pocketchat import __version__
from pocketchat.api.schemas import ChatCompletionRequest

bp = Blueprint("openapi", __name__)

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


def _errors(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "Invalid request (the `param` field names the problem)",
        401: "Missing or wrong API key",
        404: "Not found",
        413: "Body larger than MAX_BODY_BYTES",
        415: "Body is not JSON",
        429: "Queue full; see Retry-After",
        503: "Model loading or server shutting down; see Retry-After",
    }
    return {str(status): _json(reasons[status], _ERROR) for status in statuses}


def build_spec() -> dict[str, Any]:
    request_schema = ChatCompletionRequest.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    components = request_schema.pop("$defs", {})
    components["ChatCompletionRequest"] = request_schema
    components["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                },
                "required": ["message", "type"],
            }
        },
    }
    chat_post = {
        "summary": "Chat completion (OpenAI compatible), streamed as SSE when `stream` is true",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}
                }
            },
        },
        "responses": {
            "200": {
                "description": "A chat.completion object, or an event stream of "
                "chat.completion.chunk frames ending with `data: [DONE]` "
                "(status frames, usage/timings/context extension; see docs/API.md)",
                "content": {
                    "application/json": {"schema": {"type": "object"}},
                    "text/event-stream": {"schema": {"type": "string"}},
                },
            },
            **_errors(400, 401, 413, 415, 429, 503),
        },
    }
    paths: dict[str, Any] = {
        "/v1/chat/completions": {"post": chat_post},
        "/v1/chat/completions/{id}/cancel": {
            "post": {
                "summary": "Stop a running or queued completion",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": _json("Cancelled"), **_errors(401, 404)},
            }
        },
        "/v1/models": {
            "get": {"summary": "The served model", "responses": {"200": _json("Model list")}}
        },
        "/api/health": {
            "get": {
                "summary": "Liveness and readiness (no auth)",
                "security": [],
                "responses": {"200": _json("Model loaded"), "503": _json("Loading or failed")},
            }
        },
        "/api/info": {
            "get": {
                "summary": "Model, quantization, context, threads, slots, versions, fallback",
                "responses": {"200": _json("Server information")},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": _json("OpenAPI 3.1")}}
        },
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
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(build_spec())
