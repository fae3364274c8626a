"""The Server-Sent Events wire format: the only place that writes `data:` lines."""

from __future__ import annotations

from pydantic import BaseModel

DONE = "data: [DONE]\n\n"
HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    # nginx buffers proxied responses unless told not to; a stream must flow per token.
    "X-Accel-Buffering": "no",
}


def frame(payload: BaseModel) -> str:
    """One event from a response model (api/responses.py), as /openapi.json describes it.

    Only the fields that were set are sent (a delta carries its text, not a null role); pydantic
    writes UTF-8 as is, so Chinese stays readable, and escapes newlines, so a frame is always a
    single `data:` line.
    """
    return f"data: {payload.model_dump_json(exclude_unset=True)}\n\n"


def heartbeat() -> str:
    return ": ping\n\n"
