"""Tools as the chat template sees them: the functions offered, the calls in the history, and the
extra variables a request passes to the template (`chat_template_kwargs`).

Templates take these in OpenAI's shapes (`{"type": "function", "function": {...}}`), as the
Hugging Face templates that GGUF files carry expect them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# The variables prompt.py gives every template itself: a request may not replace them.
RESERVED_TEMPLATE_VARIABLES = frozenset(
    {"messages", "tools", "add_generation_prompt", "bos_token", "eos_token", "raise_exception",
     "strftime_now"}
)  # fmt: skip


@dataclass(frozen=True)
class Tool:
    """A function the model may call; `parameters` is the JSON Schema of its arguments."""

    name: str
    description: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def template_value(self) -> dict[str, Any]:
        function: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            function["description"] = self.description
        function["parameters"] = dict(self.parameters)
        return {"type": "function", "function": function}


@dataclass(frozen=True)
class ToolCall:
    """One call the assistant made: `arguments` is a JSON object, as text (OpenAI's shape)."""

    id: str
    name: str
    arguments: str

    def template_value(self) -> dict[str, Any]:
        # Templates write `arguments | tojson`: they expect the object, not its text.
        arguments = json.loads(self.arguments)
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": arguments}}  # fmt: skip


@dataclass(frozen=True)
class PromptOptions:
    """What a request adds to the template's input besides the messages."""

    tools: tuple[Tool, ...] = ()
    template_kwargs: Mapping[str, Any] = field(default_factory=dict)


NO_OPTIONS = PromptOptions()


def strings_in(value: object, path: str) -> Iterator[tuple[str, str]]:
    """Every string in a JSON value, keys included, with the path of the field that holds it
    (`tools.0.function.parameters.properties.city`)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield f"{path}.{key}", str(key)
            yield from strings_in(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from strings_in(item, f"{path}.{index}")


def forged_token_field(value: object, path: str, is_forged: Callable[[str], bool]) -> str | None:
    """The path of the first string in `value` that reads as one of the model's control tokens.

    Message contents and whatever a template writes with `tojson` are always tokenized as
    plain text (prompt.py); a template may also write a tool's description or a variable as is,
    so such strings must not hold control-token text at all.
    """
    return next((where for where, text in strings_in(value, path) if is_forged(text)), None)
