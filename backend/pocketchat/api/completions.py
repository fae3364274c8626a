"""POST /v1/chat/completions (streamed or not) and cancelling a completion by id.

Every body and frame is built from the models of api/responses.py, which /openapi.json publishes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from flask import Blueprint, Response, request

from pocketchat import sse
from pocketchat.api.errors import APIError
from pocketchat.api.json_body import read_json
from pocketchat.api.reply_parts import WholeReply, chunk_delta
from pocketchat.api.responses import (
    CancelResult,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChoiceLogprobs,
    ChunkChoice,
    ChunkDelta,
    ContextReport,
    PromptTokensDetails,
    Source,
    StreamError,
    StreamErrorDetail,
    StreamStatus,
    Timings,
    TokenLogprob,
    TopLogprob,
    Usage,
    json_response,
)
from pocketchat.api.schemas import parse_chat_request
from pocketchat.chat.output import ReplyDelta
from pocketchat.chat.service import ChatRun, Sources, Status
from pocketchat.engine import types as engine
from pocketchat.engine.types import Failed, Finished
from pocketchat.knowledge.service import Passage
from pocketchat.runtime import current_loader, current_runtime

bp = Blueprint("completions", __name__)
# How often a waiting stream checks that its client is still there.
DISCONNECT_POLL_SECONDS = 0.02


@bp.post("/v1/chat/completions")
def create_completion() -> Response:
    runtime = current_runtime()
    runtime.chat.check_room()
    chat_request = parse_chat_request(read_json())
    run = runtime.chat.start(chat_request.to_chat_request())
    disconnected: Callable[[], bool] = request.environ.get(
        "waitress.client_disconnected", lambda: False
    )
    model_id = runtime.choice.model_id
    if chat_request.stream:
        heartbeat = current_loader().settings.heartbeat_seconds
        frames = stream_frames(run, model_id, disconnected, heartbeat, chat_request.logprobs)
        return Response(frames, headers=sse.HEADERS)
    return json_response(collect(run, model_id, disconnected, chat_request.logprobs))


@bp.post("/v1/chat/completions/<run_id>/cancel")
def cancel_completion(run_id: str) -> Response:
    current_runtime().chat.find(run_id).cancel()
    return json_response(CancelResult(id=run_id, object="chat.completion.cancel", cancelled=True))


class _Frames:
    """The chunks of one run: every chunk carries the run's id, creation time and model."""

    def __init__(self, run: ChatRun, model_id: str) -> None:
        self.run, self.model_id = run, model_id

    def chunk(self, choices: list[ChunkChoice], **fields: object) -> str:
        body = ChatCompletionChunk(
            id=self.run.id,
            object="chat.completion.chunk",
            created=self.run.created,
            model=self.model_id,
            choices=choices,
            **fields,
        )
        return sse.frame(body)

    def delta(
        self,
        delta: ChunkDelta,
        finish_reason: str | None = None,
        logprobs: ChoiceLogprobs | None = None,
    ) -> str:
        choice = ChunkChoice(index=0, delta=delta, finish_reason=finish_reason)
        if logprobs is not None:  # frames are sent without unset fields: null stays unsaid
            choice.logprobs = logprobs
        return self.chunk([choice])


def _logprobs(
    wanted: bool | None, tokens: tuple[engine.TokenLogprob, ...]
) -> ChoiceLogprobs | None:
    """OpenAI's shape of the tokens' logprobs, when the request asked for them."""
    if not wanted:
        return None

    def choice(token: engine.TokenChoice) -> dict[str, object]:
        return {"token": token.text, "logprob": token.logprob, "bytes": list(token.token_bytes)}

    return ChoiceLogprobs(
        content=[
            TokenLogprob(
                **choice(token.chosen), top_logprobs=[TopLogprob(**choice(t)) for t in token.top]
            )
            for token in tokens
        ]
    )


def _finish_reason(finished: Finished) -> str:
    return "stop" if finished.finish_reason == "cancelled" else finished.finish_reason


def _usage(finished: Finished) -> Usage:
    return Usage(
        prompt_tokens=finished.prompt_tokens,
        completion_tokens=finished.completion_tokens,
        total_tokens=finished.prompt_tokens + finished.completion_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=finished.cached_tokens),
    )


def _timings(finished: Finished) -> Timings:
    timings = finished.timings
    return Timings(
        queued_ms=timings.queued_ms,
        time_to_first_token_ms=timings.time_to_first_token_ms,
        prompt_tokens_processed=timings.prompt_tokens_processed,
        prompt_ms=timings.prompt_ms,
        prompt_tokens_per_second=timings.prompt_tokens_per_second,
        completion_tokens=timings.completion_tokens,
        decode_ms=timings.decode_ms,
        decode_tokens_per_second=timings.decode_tokens_per_second,
    )


# A whole reply's failure as an HTTP status: refusals that come only after summaries were
# written (the reply no longer fits, the queue filled meanwhile) keep their usual statuses.
FAILURE_STATUSES = {
    "server_shutdown": 503,
    "context_length_exceeded": 400,
    "server_busy": 429,
}


def _status(status: Status) -> StreamStatus:
    fields = {
        "queue_position": status.queue_position,
        "messages": status.messages,
        "prompt_tokens_done": status.prompt_tokens_done,
        "prompt_tokens_total": status.prompt_tokens_total,
        "prompt_tokens_restored": status.prompt_tokens_restored,
        "eta_ms": status.eta_ms,
    }
    return StreamStatus(
        state=status.state,
        **{name: value for name, value in fields.items() if value is not None},
    )


def _sources(passages: tuple[Passage, ...] | None) -> list[Source] | None:
    if passages is None:
        return None
    return [
        Source(
            index=passage.number,
            id=passage.hit.chunk_id,
            file_id=passage.hit.file_id,
            filename=passage.hit.filename,
            vector_store_id=passage.hit.vector_store_id,
            page=passage.hit.page,
            heading=passage.hit.heading,
            snippet=passage.hit.text,
            score=round(passage.hit.score, 6),
        )
        for passage in passages
    ]


def stream_frames(
    run: ChatRun,
    model_id: str,
    disconnected: Callable[[], bool],
    heartbeat_seconds: float,
    logprobs: bool | None = None,
) -> Iterator[str]:
    """The SSE body. Closing it (client gone) or a disconnect seen while polling cancels the run."""
    frames = _Frames(run, model_id)
    try:
        yield frames.delta(ChunkDelta(role="assistant", content=""))
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
                yield frames.chunk([], status=_status(event))
            elif isinstance(event, Sources):
                yield frames.chunk([], sources=_sources(event.passages))
            elif isinstance(event, ReplyDelta):
                yield frames.delta(chunk_delta(event), logprobs=_logprobs(logprobs, event.logprobs))
            elif isinstance(event, Finished):
                yield frames.delta(
                    ChunkDelta(), _finish_reason(event), _logprobs(logprobs, event.logprobs)
                )
                yield frames.chunk(
                    [],
                    usage=_usage(event),
                    timings=_timings(event),
                    context=ContextReport.model_validate(run.context_report()),
                )
            elif isinstance(event, Failed):
                detail = StreamErrorDetail(
                    message=event.message, type="server_error", code=event.code
                )
                yield sse.frame(StreamError(error=detail))
        yield sse.DONE
    finally:
        run.close()


def collect(
    run: ChatRun, model_id: str, disconnected: Callable[[], bool], logprobs: bool | None = None
) -> ChatCompletion:
    """The whole reply as one chat.completion object."""
    reply = WholeReply()
    tokens: list[engine.TokenLogprob] = []
    for event in run.events(DISCONNECT_POLL_SECONDS):
        if event is None and disconnected():
            run.close()
            raise APIError(499, "the client closed the connection", code="client_closed")
        elif isinstance(event, ReplyDelta):
            reply.add(event)
            tokens.extend(event.logprobs)
        elif isinstance(event, Failed):
            status = FAILURE_STATUSES.get(event.code, 500)
            raise APIError(status, event.message, code=event.code)
        elif isinstance(event, Finished):
            choice = Choice(
                index=0,
                message=reply.message(),
                finish_reason=_finish_reason(event),
            )
            if chosen := _logprobs(logprobs, (*tokens, *event.logprobs)):
                choice.logprobs = chosen
            return ChatCompletion(
                id=run.id,
                object="chat.completion",
                created=run.created,
                model=model_id,
                choices=[choice],
                usage=_usage(event),
                timings=_timings(event),
                context=ContextReport.model_validate(run.context_report()),
                **({"sources": _sources(run.passages)} if run.passages is not None else {}),
            )
    raise APIError(500, "the completion ended without a result", code="server_error")
