"""OpenAI's chat request fields beyond plain chat: the reply formats honoured, the fields refused.

Every field of OpenAI's request is either honoured or refused by name (400), never dropped:
tests/test_openai_fields.py walks the official client's list of fields.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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

# OpenAI's request fields this server refuses when they ask for something (a value other than
# null or the listed harmless one), with the reason the 400 gives. Silently dropping them would
# let a client believe, say, that a tool was offered or that logprobs will come.
_TOOLS = "tool calls are not supported yet"
REFUSED: dict[str, tuple[str, object]] = {
    "audio": ("audio output is not supported", None),
    "modalities": ("only text output is supported", ["text"]),
    "prediction": ("predicted outputs are not supported", None),
    "tools": (_TOOLS, None),
    "tool_choice": (_TOOLS, "none"),
    "functions": (_TOOLS, None),
    "function_call": (_TOOLS, "none"),
    "parallel_tool_calls": (_TOOLS, None),
    "web_search_options": ("web search is not supported", None),
    "reasoning_effort": ("this model does not reason: reasoning_effort is not supported", None),
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
