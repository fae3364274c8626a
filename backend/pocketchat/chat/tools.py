"""Tool calls of one request: what the model's template must support, the grammar that forces a
call, and the calls read back from the reply, each checked against its function's schema.

Calls are written as Qwen2.5 and Hermes write them, `<tool_call>` JSON `</tool_call>`: the only
format prompt.py offers tools to.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import jsonschema_rs

from pocketchat.chat.errors import InvalidField
from pocketchat.chat.request import ChatRequest, ToolUse
from pocketchat.context.prompt import ChatPrompt
from pocketchat.context.tools import Tool, ToolCall, forged_token_field
from pocketchat.engine.json_schema import SUBSCHEMAS, UnsupportedSchema, check_schema
from pocketchat.engine.tagged_json import tagged_json_grammar

CALL_OPENING, CALL_CLOSING = "<tool_call>", "</tool_call>"
NO_TOOL_SUPPORT = (
    "this model's chat template has no tool support (it must write tools and `<tool_call>` "
    "blocks, as Qwen2.5's does); serve such a model, or give this one such a template"
)


def arguments_schema(tool: Tool) -> dict[str, Any]:
    """The schema of a call's arguments: always an object (no parameters: an empty one)."""
    if not tool.parameters:
        return {"type": "object", "properties": {}}
    return {"type": "object", **tool.parameters}


def check_tools(request: ChatRequest, prompt: ChatPrompt) -> CallReader | None:
    """The reader of the reply's calls (None without tools); InvalidField, naming the field,
    for tools this model or the grammar cannot serve."""
    for index, message in enumerate(request.messages):
        if (message.tool_calls or message.role == "tool") and not prompt.supports_tools:
            raise InvalidField(NO_TOOL_SUPPORT, f"messages.{index}", "tools_unsupported")
    forged = forged_token_field(request.template_kwargs, "chat_template_kwargs", prompt.is_forged)
    if forged:
        raise _control_token_text(forged)
    use = request.tools
    if use is None:
        return None
    if not prompt.supports_tools:
        raise InvalidField(NO_TOOL_SUPPORT, "tools", "tools_unsupported")
    if request.json_output is not None:
        raise InvalidField(
            "response_format JSON cannot be combined with tools (unless tool_choice is none)",
            "response_format",
            "invalid_combination",
        )
    validators = {}
    for index, tool in enumerate(use.tools):
        where = f"tools.{index}.function"
        if tool.parameters.get("type", "object") != "object":
            raise InvalidField(
                "a function's parameters must be a JSON schema of type object",
                f"{where}.parameters",
                "unsupported_schema",
            )
        try:
            check_schema(arguments_schema(tool))
            validators[tool.name] = jsonschema_rs.validator_for(arguments_schema(tool))
        except (UnsupportedSchema, ValueError) as error:
            reason = str(error).split("\n")[0]
            raise InvalidField(reason, f"{where}.parameters", "unsupported_schema") from None
        forged = forged_token_field(tool.template_value()["function"], where, prompt.is_forged)
        if forged:
            raise _control_token_text(forged)
    callable_names = {tool.name for tool in _callable(use)}
    return CallReader(
        {name: v for name, v in validators.items() if name in callable_names}, use.parallel
    )


def _control_token_text(where: str) -> InvalidField:
    return InvalidField(
        "holds the text of one of the model's control tokens", where, "control_token_text"
    )


def forced(use: ToolUse | None) -> bool:
    """Whether the reply must be calls (`required` or a named function): a grammar says so."""
    return use is not None and use.choice != "auto"


def _callable(use: ToolUse) -> tuple[Tool, ...]:
    if use.choice == "function":
        return tuple(tool for tool in use.tools if tool.name == use.function)
    return use.tools


def call_grammar(use: ToolUse) -> str:
    """The grammar of a reply made of calls to the callable tools: one, or several when
    parallel calls are allowed."""
    definitions: dict[str, Any] = {}
    calls = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool.name},
                "arguments": _hoisted(arguments_schema(tool), f"tool{index}-", definitions),
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for index, tool in enumerate(_callable(use))
    ]
    schema: dict[str, Any] = calls[0] if len(calls) == 1 else {"anyOf": calls}
    if definitions:
        schema = {**schema, "$defs": definitions}
    return tagged_json_grammar(
        schema, f"{CALL_OPENING}\n", f"\n{CALL_CLOSING}", repeated=use.parallel
    )


def _hoisted(schema: dict[str, Any], prefix: str, definitions: dict[str, Any]) -> dict[str, Any]:
    """`schema` made to sit inside the call's schema: its `$defs` (as pydantic writes nested
    models) move to `definitions` under `prefix`, and its `#/$defs/...` references follow."""

    def renamed(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: _moved_ref(item) if key == "$ref" and isinstance(item, str) else renamed(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [renamed(item) for item in value]
        return value

    def _moved_ref(ref: str) -> str:
        for key in SUBSCHEMAS:
            if ref.startswith(f"#/{key}/"):
                return f"#/$defs/{prefix}{ref[len(key) + 3 :]}"
        return ref

    for key in SUBSCHEMAS:
        for name, subschema in schema.get(key, {}).items():
            definitions[prefix + name] = renamed(subschema)
    return {key: renamed(item) for key, item in schema.items() if key not in SUBSCHEMAS}


class CallReader:
    """Reads a call from the text between the tags; None when it is not one this request
    allows (unknown function, not JSON, arguments that break the function's schema)."""

    def __init__(self, validators: Mapping[str, jsonschema_rs.Validator], parallel: bool) -> None:
        self._validators = validators
        self.parallel = parallel  # False: the first call is the only one

    def read(self, text: str) -> ToolCall | None:
        try:
            value = json.loads(text)
        except ValueError:
            return None
        if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
            return None
        validator = self._validators.get(value["name"])
        arguments = value.get("arguments", {})
        if isinstance(arguments, str):  # some models write the arguments as a JSON string
            try:
                arguments = json.loads(arguments)
            except ValueError:
                return None
        if validator is None or not isinstance(arguments, dict):
            return None
        if not validator.is_valid(arguments):
            return None
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        return ToolCall(call_id, value["name"], json.dumps(arguments, ensure_ascii=False))
