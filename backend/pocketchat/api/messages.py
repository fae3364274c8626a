"""The messages of a chat request: text from the system, the user and the assistant, the
assistant's tool calls and the tools' results, validated and turned into the context layer's
plain `Message`s."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from pocketchat.api.errors import APIError
from pocketchat.context.prompt import Message
from pocketchat.context.tools import ToolCall

# OpenAI's rule for function names; ids are ours (`call_…`) or a client's, kept to safe text.
ToolName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
CallId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]


class _Strict(BaseModel):
    # Wrong JSON types are errors, not coerced: "1" is not a number, 1 is not a boolean.
    model_config = ConfigDict(strict=True, extra="ignore")


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class FunctionCallParam(_Strict):
    name: ToolName
    arguments: str = Field(
        max_length=200_000, description="The call's arguments: a JSON object, as text."
    )

    @field_validator("arguments")
    @classmethod
    def _json_object(cls, value: str) -> str:
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise PydanticCustomError("json_object", "must be a JSON object, as text")
        return value


class ToolCallParam(_Strict):
    id: CallId
    type: Literal["function"]
    function: FunctionCallParam


class ChatMessage(_Strict):
    role: Literal["system", "user", "assistant", "tool"]
    tool_calls: list[ToolCallParam] | None = Field(
        None, max_length=128, description="An assistant message's calls, as the reply gave them."
    )
    tool_call_id: CallId | None = Field(
        None,
        validate_default=True,
        description="A tool message: the id of the call whose result it holds (required).",
    )
    content: str | list[TextPart] | None = Field(
        None,
        validate_default=True,
        description="Required, except in an assistant message with `tool_calls`.",
    )
    name: str | None = Field(None, max_length=64)
    reasoning_content: str | None = Field(
        None,
        description="Accepted and dropped: a reply's reasoning is never shown to the model again.",
    )

    @field_validator("tool_calls")
    @classmethod
    def _assistant_calls(
        cls, value: list[ToolCallParam] | None, info: ValidationInfo
    ) -> list[ToolCallParam] | None:
        if value is not None and info.data.get("role") != "assistant":
            raise PydanticCustomError("role", "only assistant messages have tool_calls")
        return value

    @field_validator("tool_call_id")
    @classmethod
    def _answers_a_call(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("role") == "tool":
            raise PydanticCustomError("missing", "a tool message needs the id of its call")
        return value

    @field_validator("content")
    @classmethod
    def _has_content(
        cls, value: str | list[TextPart] | None, info: ValidationInfo
    ) -> str | list[TextPart] | None:
        calls = info.data.get("role") == "assistant" and info.data.get("tool_calls")
        if value is None and not calls:
            raise PydanticCustomError("missing", "content is required")
        return value

    @property
    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)

    def to_message(self) -> Message:
        """The plain message; the reasoning of an earlier reply is left out."""
        calls = tuple(
            ToolCall(call.id, call.function.name, call.function.arguments)
            for call in self.tool_calls or ()
        )
        answers = self.tool_call_id if self.role == "tool" else None
        return Message(self.role, self.text, calls, answers)


def check_tool_results(messages: list[ChatMessage]) -> None:
    """Each tool message answers a call of the assistant message before the tool results, as
    OpenAI requires: a 400 naming the message otherwise."""
    open_calls: set[str] = set()
    for index, message in enumerate(messages):
        if message.role != "tool":
            open_calls = {call.id for call in message.tool_calls or ()}
        elif message.tool_call_id not in open_calls:
            param = f"messages.{index}.tool_call_id"
            raise APIError(
                400,
                f"{param}: no call of the assistant message before it has the id "
                f"{message.tool_call_id!r}",
                param=param,
            )
