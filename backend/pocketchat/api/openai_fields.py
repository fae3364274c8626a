"""OpenAI's chat request fields beyond plain chat: the reply formats and tools honoured, the
fields refused.

Every field of OpenAI's request is either honoured or refused by name (400), never dropped:
tests/test_openai_fields.py walks the official client's list of fields.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from pocketchat.api.messages import ToolName
from pocketchat.chat.request import ToolUse
from pocketchat.context.tools import Tool


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class TextFormat(_Strict):
    type: Literal["text"]


class JsonObjectFormat(_Strict):
    type: Literal["json_object"]


class JsonSchemaSpec(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    # `schema` is a method of pydantic's BaseModel: the field takes another name, JSON keeps it.
    json_schema: dict[str, Any] | None = Field(
        None, alias="schema", description="The JSON Schema the reply follows (any JSON if absent)."
    )
    strict: bool | None = Field(None, description="Accepted: the schema is always enforced.")


class JsonSchemaFormat(_Strict):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[
    TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")
]


class FunctionSpec(_Strict):
    name: ToolName
    description: str | None = Field(None, max_length=20_000)
    parameters: dict[str, Any] | None = Field(
        None,
        description="The JSON Schema of the arguments, an object (none: no arguments); the "
        "keywords `response_format` enforces, others refused (400).",
    )
    strict: bool | None = Field(
        None, description="Accepted: forced calls always follow the schema, others are checked."
    )


class FunctionTool(_Strict):
    type: Literal["function"]
    function: FunctionSpec


class NamedFunction(_Strict):
    name: ToolName


class NamedToolChoice(_Strict):
    type: Literal["function"]
    function: NamedFunction


def _tool_choice_kind(value: object) -> str:
    # Tags that are not names: the error of a bad named choice says `tool_choice.function.name`.
    return "named-function" if isinstance(value, (dict, NamedToolChoice)) else "tool-mode"


ToolChoice = Annotated[
    Annotated[Literal["none", "auto", "required"], Tag("tool-mode")]
    | Annotated[NamedToolChoice, Tag("named-function")],
    Discriminator(_tool_choice_kind),
]


class ToolFields(_Strict):
    """The request's tool fields, honoured (a base of the chat request)."""

    tools: list[FunctionTool] | None = Field(
        None,
        max_length=128,
        description="Functions the model may call, shown to it by its chat template; a model "
        "whose template has no tool support answers 400.",
    )
    tool_choice: ToolChoice | None = Field(
        None,
        description="`auto` (default with tools), `none`, `required` or one named function: "
        "`required` and a named function are enforced by a grammar.",
    )
    parallel_tool_calls: bool | None = Field(
        None, description="Whether a reply may make several calls (default true)."
    )

    @field_validator("tools")
    @classmethod
    def _unique_names(cls, value: list[FunctionTool] | None) -> list[FunctionTool] | None:
        names = [tool.function.name for tool in value or ()]
        if len(set(names)) != len(names):
            raise PydanticCustomError("unique", "function names must be unique")
        return value

    @field_validator("tool_choice")
    @classmethod
    def _choice_of_tools(
        cls, value: str | NamedToolChoice | None, info: ValidationInfo
    ) -> str | NamedToolChoice | None:
        names = {tool.function.name for tool in info.data.get("tools") or ()}
        if isinstance(value, NamedToolChoice) and value.function.name not in names:
            raise PydanticCustomError("tool_choice", "names a function that tools does not offer")
        if value == "required" and not names:
            raise PydanticCustomError("tool_choice", "required needs tools")
        return value

    def tool_use(self) -> ToolUse | None:
        """The tools as the chat layer takes them; None without tools or with `none`."""
        choice = self.tool_choice
        if not self.tools or choice == "none":
            return None
        tools = tuple(
            Tool(spec.name, spec.description, spec.parameters or {})
            for spec in (tool.function for tool in self.tools)
        )
        parallel = self.parallel_tool_calls is not False
        if isinstance(choice, NamedToolChoice):
            return ToolUse(tools, "function", choice.function.name, parallel)
        return ToolUse(tools, choice or "auto", None, parallel)


# OpenAI's request fields this server refuses when they ask for something (a value other than
# null or the listed harmless one), with the reason the 400 gives. Silently dropping them would
# let a client believe, say, that a tool was offered or that logprobs will come.
_FUNCTIONS = "functions and function_call are deprecated: use tools and tool_choice"
REFUSED: dict[str, tuple[str, object]] = {
    "audio": ("audio output is not supported", None),
    "modalities": ("only text output is supported", ["text"]),
    "prediction": ("predicted outputs are not supported", None),
    "functions": (_FUNCTIONS, None),
    "function_call": (_FUNCTIONS, "none"),
    "web_search_options": ("web search is not supported", None),
    "reasoning_effort": (
        "reasoning_effort is not supported: chat_template_kwargs "
        '{"enable_thinking": false} turns a reasoning model\'s thinking off',
        None,
    ),
    "verbosity": ("verbosity is not supported", None),
    "moderation": ("moderation is not supported", None),
}


def refused(name: str) -> Any:
    """A field typed null (or its harmless value) in /openapi.json; the request refuses the rest."""
    reason, harmless = REFUSED[name]
    accepted = "null" if harmless is None else f"null or {json.dumps(harmless)}"

    def document(schema: dict[str, Any]) -> None:
        schema["description"] = f"Refused (400) unless {accepted}: {reason}."
        if harmless is not None:
            schema.pop("type", None)
            schema["anyOf"] = [{"type": "null"}, {"const": harmless}]

    return Field(None, json_schema_extra=document)
