"""The request body of /v1/chat/completions: OpenAI's fields, our extensions, validated ranges."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from pocketchat.api.errors import APIError
from pocketchat.api.messages import ChatMessage, check_tool_results
from pocketchat.api.openai_fields import (
    REFUSED,
    JsonObjectFormat,
    JsonSchemaFormat,
    ResponseFormat,
    ToolFields,
    refused,
)
from pocketchat.chat.request import DEFAULT_SAMPLING, ChatRequest, JsonOutput, KnowledgeQuery
from pocketchat.context.manager import ClientSummary
from pocketchat.context.tools import RESERVED_TEMPLATE_VARIABLES

Body = TypeVar("Body", bound=BaseModel)
Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Penalty = Annotated[float, Field(ge=-2.0, le=2.0, allow_inf_nan=False)]
TokenId = Annotated[str, Field(pattern=r"^[0-9]{1,9}$")]
LogitBias = Annotated[float, Field(ge=-100.0, le=100.0, allow_inf_nan=False)]


class _Strict(BaseModel):
    # Wrong JSON types are errors, not coerced: "1" is not a number, 1 is not a boolean.
    model_config = ConfigDict(strict=True, extra="ignore")


class ContextSummary(_Strict):
    covers: int = Field(ge=1, description="How many of the first messages the summary stands for.")
    hash: str = Field(min_length=1, max_length=128)
    text: str = Field(max_length=20_000)


class KnowledgeOptions(_Strict):
    vector_store_ids: list[str] = Field(
        min_length=1, max_length=16, description="Answer from these vector stores, citing them."
    )
    max_results: int = Field(5, ge=1, le=20, description="Passages retrieved at most.")


class StreamOptions(_Strict):
    include_usage: bool = False


class ChatCompletionRequest(ToolFields):
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    model: str | None = Field(None, description="Accepted and ignored: one model is served.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0, allow_inf_nan=False)
    top_p: Probability | None = None
    top_k: int | None = Field(None, ge=0, le=1000)
    min_p: Probability | None = None
    repeat_penalty: float | None = Field(None, ge=0.5, le=2.0, allow_inf_nan=False)
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1)
    stop: str | list[str] | None = None
    n: int | None = Field(None, ge=1, le=1)
    context_overflow: Literal["summarize", "truncate", "error"] = "summarize"
    context_summary: ContextSummary | None = None
    conversation_id: str | None = Field(None, max_length=128)
    knowledge: KnowledgeOptions | None = Field(
        None,
        description="Retrieve passages from these vector stores for the latest question; the "
        "reply cites them as [1], [2], and `sources` lists them.",
    )
    logprobs: bool | None = Field(
        None, description="Return each reply token's log-probability in `choices[].logprobs`."
    )
    top_logprobs: int | None = Field(
        None, ge=0, le=20, description="With `logprobs`, this many most likely alternatives."
    )
    logit_bias: dict[TokenId, LogitBias] | None = Field(
        None,
        max_length=300,
        description="Token id → bias added to its logit (-100 bans the token, 100 forces it).",
    )
    response_format: ResponseFormat | None = Field(
        None,
        description="`text`, `json_object` (any JSON object) or `json_schema`: the reply is "
        "constrained by a grammar built from the schema; a schema keyword the grammar cannot "
        "enforce is refused (400).",
    )
    chat_template_kwargs: dict[str, Any] | None = Field(
        None,
        max_length=16,
        description="Extra variables for the chat template, as llama-server and vLLM take them: "
        '`{"enable_thinking": false}` turns a reasoning model\'s thinking off (Qwen3).',
    )
    # Accepted and ignored: they change nothing in what this server produces.
    user: str | None = Field(None, max_length=256, description="Accepted and ignored.")
    safety_identifier: str | None = Field(None, max_length=256, description="Accepted and ignored.")
    metadata: dict[str, str] | None = Field(None, description="Accepted and ignored.")
    store: bool | None = Field(None, description="Accepted and ignored: nothing is stored.")
    service_tier: str | None = Field(None, max_length=32, description="Accepted and ignored.")
    prompt_cache_key: str | None = Field(
        None, max_length=256, description="Accepted and ignored: prompt prefixes are reused anyway."
    )
    prompt_cache_retention: str | None = Field(
        None, max_length=32, description="Accepted and ignored."
    )
    prompt_cache_options: dict[str, Any] | None = Field(None, description="Accepted and ignored.")
    # Refused when they ask for something (REFUSED says why).
    audio: None = refused("audio")
    modalities: None = refused("modalities")
    prediction: None = refused("prediction")
    functions: None = refused("functions")
    function_call: None = refused("function_call")
    web_search_options: None = refused("web_search_options")
    reasoning_effort: None = refused("reasoning_effort")
    verbosity: None = refused("verbosity")
    moderation: None = refused("moderation")

    @field_validator(*REFUSED, mode="before")
    @classmethod
    def _refuse(cls, value: object, info: ValidationInfo) -> None:
        reason, harmless = REFUSED[str(info.field_name)]
        # `type(...) is`: 0 is not false, and 1.0 is not a value anyone meant here.
        if value is not None and not (type(value) is type(harmless) and value == harmless):
            raise PydanticCustomError("refused", reason)
        return None

    @field_validator("messages")
    @classmethod
    def _results_answer_calls(cls, value: list[ChatMessage]) -> list[ChatMessage]:
        check_tool_results(value)
        return value

    @field_validator("chat_template_kwargs")
    @classmethod
    def _template_variables(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for name in value or {}:
            if not name.isidentifier() or not name.isascii() or len(name) > 64:
                raise PydanticCustomError(
                    "name", "{name} is not a variable name", {"name": repr(name)}
                )
            if name in RESERVED_TEMPLATE_VARIABLES:
                raise PydanticCustomError(
                    "name", "{name} is set by the server", {"name": repr(name)}
                )
        if value and not isinstance(value.get("enable_thinking", False), bool):
            raise PydanticCustomError("type", "enable_thinking must be true or false")
        return value

    @field_validator("stop")
    @classmethod
    def _stop_strings(cls, value: str | list[str] | None) -> str | list[str] | None:
        strings = [value] if isinstance(value, str) else (value or [])
        if len(strings) > 8:
            raise ValueError("at most 8 stop strings")
        if any(not s or len(s) > 200 for s in strings):
            raise ValueError("stop strings must be 1 to 200 characters")
        return value

    @field_validator("top_logprobs")
    @classmethod
    def _top_needs_logprobs(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and not info.data.get("logprobs"):
            raise PydanticCustomError("logprobs", "top_logprobs needs logprobs: true")
        return value

    @property
    def stop_strings(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def to_chat_request(self) -> ChatRequest:
        """The plain request the chat layer takes: unset sampling fields take the defaults."""
        overrides = {
            name: value
            for name in (
                "temperature", "top_p", "top_k", "min_p", "repeat_penalty", "frequency_penalty",
                "presence_penalty", "seed",
            )
            if (value := getattr(self, name)) is not None
        }  # fmt: skip
        if self.logit_bias:
            overrides["logit_bias"] = tuple(
                (int(token), float(bias)) for token, bias in sorted(self.logit_bias.items())
            )
        summary = self.context_summary
        return ChatRequest(
            messages=tuple(m.to_message() for m in self.messages),
            sampling=replace(DEFAULT_SAMPLING, **overrides),
            reply_limit=self.max_completion_tokens or self.max_tokens,
            stop=self.stop_strings,
            context_overflow=self.context_overflow,
            client_summary=(
                ClientSummary(summary.covers, summary.hash, summary.text) if summary else None
            ),
            knowledge=(
                KnowledgeQuery(tuple(self.knowledge.vector_store_ids), self.knowledge.max_results)
                if self.knowledge
                else None
            ),
            json_output=self._json_output(),
            logprobs=(self.top_logprobs or 0) if self.logprobs else None,
            tools=self.tool_use(),
            template_kwargs=dict(self.chat_template_kwargs or {}),
        )

    def _json_output(self) -> JsonOutput | None:
        response_format = self.response_format
        if isinstance(response_format, JsonObjectFormat):
            return JsonOutput(schema=None)
        if isinstance(response_format, JsonSchemaFormat):
            return JsonOutput(schema=response_format.json_schema.json_schema)
        return None


_UNION_TAGS = {"str", "int", "float", "bool", "none"}


def _is_field(part: object) -> bool:
    """Pydantic puts the union member tried (`str`, `list[TextPart]`) into an error's path."""
    if isinstance(part, int):
        return True
    name = str(part)
    return name.isidentifier() and name not in _UNION_TAGS


def validate(model: type[Body], payload: object) -> Body:
    """Validate a decoded JSON body; the first problem becomes a 400 that names the field."""
    if not isinstance(payload, dict):
        raise APIError(400, "the request body must be a JSON object", code="invalid_json")
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        param = ".".join(str(part) for part in first["loc"] if _is_field(part)) or None
        raise APIError(
            400, f"{param}: {first['msg']}" if param else first["msg"], param=param
        ) from None


def parse_chat_request(payload: object) -> ChatCompletionRequest:
    return validate(ChatCompletionRequest, payload)
