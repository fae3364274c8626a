"""The pieces every path of /openapi.json is built from: schema references, JSON bodies, and
the error answers a route can give."""

from __future__ import annotations

from typing import Any

REASONS = {
    400: "Invalid request (the `param` field names the problem)",
    401: "Missing or wrong API key",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict with the resource's current state",
    413: "Body larger than MAX_BODY_BYTES (files: MAX_UPLOAD_BYTES)",
    415: "Body is not JSON",
    429: "Queue full; see Retry-After",
    503: "Model loading, server shutting down, or no knowledge base; see Retry-After",
}
# Every route can answer these: auth is checked first, and a mangled path is a JSON 404/405.
COMMON_ERRORS = (401, 404, 405)


def schema_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(description: str, schema_name: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema_ref(schema_name)}},
    }


def with_errors(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    statuses = sorted(set(errors) | set(COMMON_ERRORS))
    return {
        "200": ok,
        **{str(status): json_content(REASONS[status], "Error") for status in statuses},
    }


def get_only(summary: str, ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": with_errors(ok, *errors)}}
