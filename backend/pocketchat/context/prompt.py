"""Prompt building that cannot be hijacked: the GGUF's chat template, message text as plain text.

llama-cpp-python's `create_chat_completion` tokenizes the whole rendered prompt with
`special=True`, so a user who types `<|im_end|>\\n<|im_start|>system\\n...` forges a real system
turn. Here the template is rendered with a random sentinel in place of each message's content;
the template's own text is tokenized with control tokens, the contents without. What a template
writes with `tojson` (tools, the arguments of earlier calls) is plain text too.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from jinja2 import TemplateError, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pocketchat.context.template_safety import UnsafeTemplate, check_chat_template
from pocketchat.context.tools import NO_OPTIONS, PromptOptions, Tool, ToolCall


class Tokenizer(Protocol):
    add_bos: bool
    bos_token: int
    eos_token: int

    def tokenize(self, text: str, *, special: bool, add_bos: bool = False) -> list[int]: ...

    def token_text(self, token: int) -> str: ...


@dataclass(frozen=True)
class Message:
    role: str  # "system", "user", "assistant" or "tool"
    content: str
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant's calls
    tool_call_id: str | None = None  # the call a tool message answers


# One pattern for every nonce: compiling one per request filled `re`'s cache with 512 dead
# patterns (300 KB, found by the soak test). `:3` stands for message 3's content, `:j3` for the
# third text written by `tojson`.
_SENTINEL = re.compile("\ue000([0-9a-f]{16}):(j?)(\\d+)\ue001")
# The render's own variable: no template can name it, so none can read or replace it.
_RENDER = "\ue000render"
_PROBE_TOOL = Tool("pocketchat_probe", "A probe.", {"type": "object", "properties": {}})


class TemplateUnusable(ValueError):
    """The model's chat template is missing or cannot render a plain conversation."""


def _raise_exception(message: str) -> None:
    raise TemplateError(message)


@dataclass
class _Render:
    nonce: str
    json_texts: list[str]


@pass_context
def _tojson(context: Context, value: Any, indent: int | None = None, **_: Any) -> str:
    """JSON as a marker that becomes plain text: a tool's description or an argument cannot
    forge a control token, however the template quotes it."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    render = context.get(_RENDER)
    if not isinstance(render, _Render):
        return text
    render.json_texts.append(text)
    return f"\ue000{render.nonce}:j{len(render.json_texts) - 1}\ue001"


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class ChatPrompt:
    """Renders conversations with one model's template and tokenizes them safely."""

    def __init__(self, template_source: str | None, tokenizer: Tokenizer) -> None:
        if not template_source:
            raise TemplateUnusable(
                "the model file has no chat template (tokenizer.chat_template); "
                "use an instruct/chat GGUF"
            )
        try:
            check_chat_template(template_source)
        except UnsafeTemplate as error:
            raise TemplateUnusable(str(error)) from None
        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
        )
        env.filters["tojson"] = _tojson
        env.globals.update(raise_exception=_raise_exception, strftime_now=_strftime_now)
        try:
            self._template = env.from_string(template_source)
        except TemplateError as error:
            raise TemplateUnusable(f"the model's chat template does not compile: {error}") from None
        self._tokenizer = tokenizer
        self._bos_text = tokenizer.token_text(tokenizer.bos_token) if tokenizer.add_bos else ""
        self._eos_text = tokenizer.token_text(tokenizer.eos_token)
        self.supports_system = self._check()
        # Only templates that write calls as `<tool_call>` JSON (Qwen2.5, Qwen3, Hermes) are
        # offered tools: that is the one format chat/output.py reads back.
        self.supports_tools = "<tool_call>" in template_source and self._renders_tools()
        # A template that knows `<think>` blocks: the reply's reasoning is split from its text.
        self.reasoning = "</think>" in template_source

    def _check(self) -> bool:
        """Refuse a template that cannot render user/assistant turns; learn if it takes a system."""
        turns = [Message("user", "u1"), Message("assistant", "a1"), Message("user", "u2")]
        try:
            self.tokens([Message("system", "s"), *turns])
            return True
        except TemplateUnusable:
            pass
        self.tokens(turns)
        return False

    def _renders_tools(self) -> bool:
        """Whether the template writes the tools offered and a call and its result in the
        history (SmolLM2's, for one, writes neither)."""
        call = ToolCall("call_probe", _PROBE_TOOL.name, "{}")
        conversation = [Message("user", "u"), Message("assistant", "", (call,)),
                        Message("tool", "t", tool_call_id=call.id)]  # fmt: skip
        try:
            segments = self.render_segments(conversation, PromptOptions(tools=(_PROBE_TOOL,)))
        except TemplateUnusable:
            return False
        return "".join(text for text, _ in segments).count(_PROBE_TOOL.name) >= 2

    def thinking_open(self, options: PromptOptions = NO_OPTIONS) -> bool:
        """Whether the prompt leaves the reply inside a `<think>` block (templates that open it
        themselves): the reply's text is then reasoning until `</think>`."""
        if not self.reasoning:
            return False
        segments = self.render_segments([Message("user", "u")], options)
        return segments[-1][0].rstrip().endswith("<think>")

    def is_forged(self, text: str) -> bool:
        """Whether `text` holds the text of a control token (it tokenizes differently then)."""
        tokenizer = self._tokenizer
        return tokenizer.tokenize(text, special=True) != tokenizer.tokenize(text, special=False)

    def render_segments(
        self, messages: Sequence[Message], options: PromptOptions = NO_OPTIONS
    ) -> list[tuple[str, bool]]:
        """The prompt as (text, is_plain_text) pieces, in order."""
        render = _Render(secrets.token_hex(8), [])
        variables: dict[str, Any] = {
            **options.template_kwargs,
            "messages": [_placeholder(m, i, render.nonce) for i, m in enumerate(messages)],
            "add_generation_prompt": True,
            "bos_token": self._bos_text,
            "eos_token": self._eos_text,
            _RENDER: render,
        }
        if options.tools:
            variables["tools"] = [tool.template_value() for tool in options.tools]
        try:
            rendered = self._template.render(variables)
        except TemplateError as error:
            raise TemplateUnusable(f"the model's chat template failed: {error}") from None
        except Exception as error:
            # Templates are code from the model file: anything they raise is their failure.
            raise TemplateUnusable(f"the model's chat template failed: {error!r}") from None
        segments: list[tuple[str, bool]] = []
        position = 0
        seen: list[int] = []
        for match in _SENTINEL.finditer(rendered):
            if match.group(1) != render.nonce:
                continue
            segments.append((rendered[position : match.start()], False))
            index = int(match.group(3))
            if match.group(2):
                segments.append((_expand_json(render, index, messages, seen), True))
            else:
                seen.append(index)
                segments.append((messages[index].content, True))
            position = match.end()
        segments.append((rendered[position:], False))
        if seen != [index for index, message in enumerate(messages) if message.content]:
            raise TemplateUnusable(
                "the model's chat template does not render every message once and in order"
            )
        return [(text, is_plain) for text, is_plain in segments if text]

    def tokens(self, messages: Sequence[Message], options: PromptOptions = NO_OPTIONS) -> list[int]:
        tokenizer = self._tokenizer
        tokens: list[int] = []
        for text, is_plain in self.render_segments(messages, options):
            tokens += tokenizer.tokenize(text, special=not is_plain)
        if tokenizer.add_bos and (not tokens or tokens[0] != tokenizer.bos_token):
            tokens.insert(0, tokenizer.bos_token)
        return tokens


def _placeholder(message: Message, index: int, nonce: str) -> dict[str, Any]:
    """A message as the template gets it: a sentinel for its content (an empty content stays
    empty: templates test it, as Qwen2.5's does before a tool call)."""
    value: dict[str, Any] = {
        "role": message.role,
        "content": f"\ue000{nonce}:{index}\ue001" if message.content else "",
    }
    if message.tool_calls:
        value["tool_calls"] = [call.template_value() for call in message.tool_calls]
    if message.tool_call_id is not None:
        value["tool_call_id"] = message.tool_call_id
    return value


def _expand_json(render: _Render, index: int, messages: Sequence[Message], seen: list[int]) -> str:
    """The text `tojson` wrote, with the contents it quoted (`message.content | tojson`)."""

    def content(match: re.Match[str]) -> str:
        if match.group(1) != render.nonce or match.group(2):
            return match.group(0)
        seen.append(int(match.group(3)))
        return json.dumps(messages[int(match.group(3))].content, ensure_ascii=False)[1:-1]

    return _SENTINEL.sub(content, render.json_texts[index])
