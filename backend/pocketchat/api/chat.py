"""POST /v1/chat/completions (streamed or not) and cancelling a completion by id."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from pocketchat import sse
from pocketchat.api.errors import APIError
from pocketchat.api.json_body import read_json
from pocketchat.api.schemas import parse_chat_request
from pocketchat.chat import ChatRun, ChatService, Status
from pocketchat.engine.types import Delta, Failed, Finished

bp = Blueprint("chat", __name__)
SERVICE_KEY = "pocketchat.chat"
# How often a waiting stream checks that its client is still there.
DISCONNECT_POLL_SECONDS = 0.02


def chat_service() -> ChatService:
    service: ChatService | None = current_app.extensions.get(SERVICE_KEY)
    if service is None:
        raise APIError(503, "the model is still loading", code="model_loading", retry_after=2)
    return service


@bp.post("/v1/chat/completions")
def create_completion() -> Response:
    service = chat_service()
    if refused := service.refusal():
        raise refused
    chat_request = parse_chat_request(read_json())
    run = service.start(chat_request)
    disconnected: Callable[[], bool] = request.environ.get(
        "waitress.client_disconnected", lambda: False
    )
    model_id = current_app.extensions["pocketchat.model"].choice.model_id
    heartbeat = current_app.config["SETTINGS"].heartbeat_seconds
    if chat_request.stream:
        frames = stream_frames(run, model_id, disconnected, heartbeat)
        return Response(frames, headers=sse.HEADERS)
    return jsonify(collect(run, model_id, disconnected))


@bp.post("/v1/chat/completions/<run_id>/cancel")
def cancel_completion(run_id: str) -> Response:
    run = chat_service().find(run_id)
    if run is None:
        raise APIError(404, f"no running completion {run_id}", code="not_found")
    run.cancel()
    return jsonify({"id": run_id, "object": "chat.completion.cancel", "cancelled": True})


def _chunk(run: ChatRun, model_id: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": run.id,
        "object": "chat.completion.chunk",
        "created": run.created,
        "model": model_id,
        "choices": [],
    }
    body.update(fields)
    return body


def _choice(delta: dict[str, str], finish_reason: str | None = None) -> list[dict[str, Any]]:
    return [{"index": 0, "delta": delta, "finish_reason": finish_reason}]


def _usage(run: ChatRun, finished: Finished) -> dict[str, Any]:
    timings = finished.timings
    return {
        "usage": {
            "prompt_tokens": finished.prompt_tokens,
            "completion_tokens": finished.completion_tokens,
            "total_tokens": finished.prompt_tokens + finished.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": finished.cached_tokens},
        },
        "timings": {
            "queued_ms": timings.queued_ms,
            "time_to_first_token_ms": timings.time_to_first_token_ms,
            "prompt_tokens_processed": timings.prompt_tokens_processed,
            "prompt_ms": timings.prompt_ms,
            "prompt_tokens_per_second": timings.prompt_tokens_per_second,
            "completion_tokens": timings.completion_tokens,
            "decode_ms": timings.decode_ms,
            "decode_tokens_per_second": timings.decode_tokens_per_second,
        },
        "context": run.context_report(),
    }


def _status(status: Status) -> dict[str, Any]:
    fields: dict[str, Any] = {"state": status.state}
    if status.queue_position is not None:
        fields["queue_position"] = status.queue_position
    if status.messages is not None:
        fields["messages"] = status.messages
    return fields


def stream_frames(
    run: ChatRun, model_id: str, disconnected: Callable[[], bool], heartbeat_seconds: float
) -> Iterator[str]:
    """The SSE body. Closing it (client gone) or a disconnect seen while polling cancels the run."""
    try:
        yield sse.frame(
            _chunk(run, model_id, choices=_choice({"role": "assistant", "content": ""}))
        )
        last_write = time.monotonic()
        for event in run.events(DISCONNECT_POLL_SECONDS):
            if disconnected():
                return
            if event is None:
                if time.monotonic() - last_write >= heartbeat_seconds:
                    last_write = time.monotonic()
                    yield sse.heartbeat()
                continue
            last_write = time.monotonic()
            if isinstance(event, Status):
                yield sse.frame(_chunk(run, model_id, status=_status(event)))
            elif isinstance(event, Delta):
                yield sse.frame(_chunk(run, model_id, choices=_choice({"content": event.text})))
            elif isinstance(event, Finished):
                reason = "stop" if event.finish_reason == "cancelled" else event.finish_reason
                yield sse.frame(_chunk(run, model_id, choices=_choice({}, reason)))
                yield sse.frame(_chunk(run, model_id, **_usage(run, event)))
            elif isinstance(event, Failed):
                yield sse.error_frame(event.message, "server_error", event.code)
        yield sse.DONE
    finally:
        run.close()


def collect(run: ChatRun, model_id: str, disconnected: Callable[[], bool]) -> dict[str, Any]:
    """The whole reply as one chat.completion object."""
    parts: list[str] = []
    for event in run.events(DISCONNECT_POLL_SECONDS):
        if event is None and disconnected():
            run.close()
            raise APIError(499, "the client closed the connection", code="client_closed")
        elif isinstance(event, Delta):
            parts.append(event.text)
        elif isinstance(event, Failed):
            status = 503 if event.code == "server_shutdown" else 500
            raise APIError(status, event.message, code=event.code)
        elif isinstance(event, Finished):
            return {
                "id": run.id,
                "object": "chat.completion",
                "created": run.created,
                "model": model_id,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(parts)},
                        "finish_reason": "stop"
                        if event.finish_reason == "cancelled"
                        else event.finish_reason,
                    }
                ],
                **_usage(run, event),
            }
    raise APIError(500, "the completion ended without a result", code="server_error")
