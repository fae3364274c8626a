"""What the API answers, as pydantic models: they give /openapi.json its response schemas.

The routes build their bodies and stream frames from these models (the web app's types are
generated from the same document), and the schema fuzz test (test_api_fuzz.py) checks every
response against them.
"""

from __future__ import annotations

from typing import Literal

from flask import Response
from pydantic import BaseModel, ConfigDict


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssistantMessage(_Response):
    role: Literal["assistant"]
    content: str


class TopLogprob(_Response):
    token: str
    logprob: float
    bytes: list[int] | None


class TokenLogprob(_Response):
    token: str
    logprob: float
    bytes: list[int] | None
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(_Response):
    """OpenAI's `choices[].logprobs`: one entry per reply token, natural-log probabilities."""

    content: list[TokenLogprob] | None
    refusal: list[TokenLogprob] | None = None


class Choice(_Response):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: ChoiceLogprobs | None = None


class PromptTokensDetails(_Response):
    cached_tokens: int


class Usage(_Response):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails


class Timings(_Response):
    queued_ms: float
    time_to_first_token_ms: float
    prompt_tokens_processed: int
    prompt_ms: float
    prompt_tokens_per_second: float
    completion_tokens: int
    decode_ms: float
    decode_tokens_per_second: float


class Summary(_Response):
    covers: int
    hash: str
    text: str


class ContextReport(_Response):
    mode: Literal["summarize", "truncate", "error"]
    prompt_tokens: int
    n_ctx: int
    summarized_messages: int
    dropped_messages: int
    summary: Summary | None
    summaries_written: int


class Source(_Response):
    """A passage of the user's documents that the reply was given, cited as [index]."""

    index: int
    id: str
    file_id: str
    filename: str
    vector_store_id: str
    page: int | None
    heading: str | None
    snippet: str
    score: float


class ChatCompletion(_Response):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    timings: Timings
    context: ContextReport
    sources: list[Source] | None = None


class ChunkDelta(_Response):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(_Response):
    index: int
    delta: ChunkDelta
    finish_reason: Literal["stop", "length"] | None
    logprobs: ChoiceLogprobs | None = None


class StreamStatus(_Response):
    state: Literal["queued", "summarizing", "generating"]
    queue_position: int | None = None
    messages: int | None = None


class ChatCompletionChunk(_Response):
    """One `data:` frame of a stream: a delta, a status, or the final usage/timings/context."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    status: StreamStatus | None = None
    sources: list[Source] | None = None
    usage: Usage | None = None
    timings: Timings | None = None
    context: ContextReport | None = None


class StreamErrorDetail(_Response):
    message: str
    type: str
    code: str


class StreamError(_Response):
    """The frame that ends a stream that failed after it began (then `data: [DONE]`)."""

    error: StreamErrorDetail


class StreamEvent(_Response):
    """How OpenAPI 3.1 describes one server-sent event; `data` holds a chunk as JSON."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


class CancelResult(_Response):
    id: str
    object: Literal["chat.completion.cancel"]
    cancelled: bool


class ModelCard(_Response):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(_Response):
    object: Literal["list"]
    data: list[ModelCard]


class Health(_Response):
    status: Literal["ok", "loading", "error"]
    error: str | None = None


class ServedModel(BaseModel):
    id: str
    preset: str | None
    file: str
    quantization: str | None
    size_bytes: int
    n_params: int
    n_ctx_train: int


class ServerInfo(BaseModel):
    name: Literal["pocketchat"]
    version: str
    status: Literal["ok", "loading", "error"]
    error: str | None
    model: ServedModel | None
    fallback: dict[str, str] | None
    n_ctx: int
    parallel: int
    n_threads: int
    n_batch: int
    max_queue: int
    load_seconds: float | None
    versions: dict[str, str]
    system_info: str | None


class Embedding(_Response):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str  # a string: base64 of little-endian float32 values


class EmbeddingUsage(_Response):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(_Response):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


class ErrorDetail(_Response):
    message: str
    type: str
    param: str | None
    code: str | None


class Error(_Response):
    error: ErrorDetail


DOCUMENTED = (
    ChatCompletion, ChatCompletionChunk, StreamError, StreamEvent, CancelResult, ModelList, Health,
    ServerInfo, Error, EmbeddingList,
)  # fmt: skip


def json_response(body: BaseModel) -> Response:
    """A model as a JSON body: the fields that were set, UTF-8 as is."""
    return Response(body.model_dump_json(exclude_unset=True), mimetype="application/json")
