"""What the API answers, as pydantic models: they give /openapi.json its response schemas.

The routes build their bodies and stream frames from these models (the web app's types are
generated from the same document), and the schema fuzz test (test_api_fuzz.py) checks every
response against them.
"""

from __future__ import annotations

from typing import Literal

from flask import Response
from pydantic import BaseModel, ConfigDict, Field


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionCall(_Response):
    name: str
    arguments: str  # a JSON object, as text


class ToolCall(_Response):
    id: str
    type: Literal["function"]
    function: FunctionCall


class StreamedToolCall(ToolCall):
    """A call in a stream: each comes whole in one delta; `index` is its place in the reply."""

    index: int


class AssistantMessage(_Response):
    role: Literal["assistant"]
    content: str | None  # null when the reply is only tool calls
    reasoning_content: str | None = None  # a reasoning model's thinking (`<think>`), if any
    tool_calls: list[ToolCall] | None = None


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


FinishReason = Literal["stop", "length", "tool_calls"]


class Choice(_Response):
    index: int
    message: AssistantMessage
    finish_reason: FinishReason
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
    reasoning_content: str | None = None
    tool_calls: list[StreamedToolCall] | None = None


class ChunkChoice(_Response):
    index: int
    delta: ChunkDelta
    finish_reason: FinishReason | None
    logprobs: ChoiceLogprobs | None = None


class StreamStatus(_Response):
    """What the server is doing before the reply's first token.

    `queued` (with `queue_position`), `summarizing` (`messages` being summarized), `generating`
    (a slot took the request), `prefill` (its prompt is being read). While a prompt is read,
    `prefill` (or `summarizing`, for a summary's prompt) comes at least every 500 ms with
    `prompt_tokens_done` of `prompt_tokens_total` (inside a llama.cpp step, estimated from the
    recent reading rate), `prompt_tokens_restored` (taken from a kept KV cache instead of being
    read again) and `eta_ms` (absent until a first prompt has been timed).
    """

    state: Literal["queued", "summarizing", "generating", "prefill"]
    queue_position: int | None = None
    messages: int | None = None
    prompt_tokens_done: int | None = Field(None, ge=0)
    prompt_tokens_total: int | None = Field(None, ge=0)
    prompt_tokens_restored: int | None = Field(None, ge=0)
    eta_ms: int | None = Field(None, ge=0)


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
    chat_template: str  # CHAT_TEMPLATE: "gguf" (the file's own), a built-in name or a path
    tools: bool  # whether requests may offer tools (the template renders them)
    reasoning: bool  # whether replies' `<think>` blocks come as reasoning_content


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
