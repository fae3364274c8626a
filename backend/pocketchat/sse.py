"""The Server-Sent Events wire format: the only place that writes `data:` lines."""

from __future__ import annotations

import json
from typing import Any

DONE = "data: [DONE]\n\n"
HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    # nginx buffers proxied responses unless told not to; a stream must flow per token.
    "X-Accel-Buffering": "no",
}


def frame(payload: dict[str, Any]) -> str:
    # ensure_ascii=False keeps Chinese readable on the wire; JSON escapes any newline, so a
    # frame is always a single `data:` line.
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


def heartbeat() -> str:
    return ": ping\n\n"


def error_frame(message: str, error_type: str, code: str) -> str:
    return frame({"error": {"message": message, "type": error_type, "code": code}})
