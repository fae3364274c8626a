"""Prompt building that cannot be hijacked: the GGUF's chat template, message text as plain text.

llama-cpp-python's `create_chat_completion` tokenizes the whole rendered prompt with
`special=True`, so a user who types `<|im_end|>\\n<|im_start|>system\\n...` forges a real system
turn. Here the template is rendered with a random sentinel in place of each message's content;
the template's own text is tokenized with control tokens, the contents without.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pocketchat.context.template_safety import UnsafeTemplate, check_chat_template


class Tokenizer(Protocol):
    add_bos: bool
    bos_token: int
    eos_token: int

    def tokenize(self, text: str, *, special: bool, add_bos: bool = False) -> list[int]: ...

    def token_text(self, token: int) -> str: ...


@dataclass(frozen=True)
class Message:
    role: str
    content: str


# One pattern for every nonce: compiling one per request filled `re`'s cache with 512 dead
# patterns (300 KB, found by the soak test).
_SENTINEL = re.compile("\ue000([0-9a-f]{16}):(\\d+)\ue001")


class TemplateUnusable(ValueError):
    """The model's chat template is missing or cannot render a plain conversation."""


def _raise_exception(message: str) -> None:
    raise TemplateError(message)


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


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

    def render_segments(self, messages: Sequence[Message]) -> list[tuple[str, bool]]:
        """The prompt as (text, is_message_content) pieces, in order."""
        nonce = secrets.token_hex(8)
        placeholders = [
            {"role": m.role, "content": f"\ue000{nonce}:{i}\ue001"} for i, m in enumerate(messages)
        ]
        try:
            rendered = self._template.render(
                messages=placeholders,
                add_generation_prompt=True,
                bos_token=self._bos_text,
                eos_token=self._eos_text,
            )
        except TemplateError as error:
            raise TemplateUnusable(f"the model's chat template failed: {error}") from None
        except Exception as error:
            # Templates are code from the model file: anything they raise is their failure.
            raise TemplateUnusable(f"the model's chat template failed: {error!r}") from None
        segments: list[tuple[str, bool]] = []
        position = 0
        seen: list[int] = []
        for match in _SENTINEL.finditer(rendered):
            if match.group(1) != nonce:
                continue
            segments.append((rendered[position : match.start()], False))
            index = int(match.group(2))
            seen.append(index)
            segments.append((messages[index].content, True))
            position = match.end()
        segments.append((rendered[position:], False))
        if seen != list(range(len(messages))):
            raise TemplateUnusable(
                "the model's chat template does not render every message once and in order"
            )
        return [(text, is_content) for text, is_content in segments if text]

    def tokens(self, messages: Sequence[Message]) -> list[int]:
        tokenizer = self._tokenizer
        tokens: list[int] = []
        for text, is_content in self.render_segments(messages):
            tokens += tokenizer.tokenize(text, special=not is_content)
        if tokenizer.add_bos and (not tokens or tokens[0] != tokenizer.bos_token):
            tokens.insert(0, tokenizer.bos_token)
        return tokens
