"""A chat completion as the chat layer takes it: plain values, already validated by the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pocketchat.context.manager import ClientSummary
from pocketchat.context.prompt import Message
from pocketchat.context.tools import Tool
from pocketchat.engine.types import SamplerConfig

# What a request leaves unset.
DEFAULT_SAMPLING = SamplerConfig(
    temperature=0.7,
    top_p=0.95,
    top_k=40,
    min_p=0.05,
    repeat_penalty=1.1,
    repeat_last_n=64,
    frequency_penalty=0.0,
    presence_penalty=0.0,
    seed=None,
)


@dataclass(frozen=True)
class KnowledgeQuery:
    """Answer from these vector stores: retrieve up to `max_results` passages and cite them."""

    vector_store_ids: tuple[str, ...]
    max_results: int = 5


@dataclass(frozen=True)
class JsonOutput:
    """The reply is JSON: an object following `schema`, or any JSON object when it is None."""

    schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ToolUse:
    """The tools offered, and whether the reply may (`auto`) or must (`required`, or the one
    function named by `function`) call them."""

    tools: tuple[Tool, ...]
    choice: str = "auto"  # "auto", "required" or "function"
    function: str | None = None  # with choice "function": the one to call
    parallel: bool = True  # more than one call in a reply


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[Message, ...]
    sampling: SamplerConfig = DEFAULT_SAMPLING
    reply_limit: int | None = None  # max tokens of the reply; None: the server's REPLY_BUDGET
    stop: tuple[str, ...] = ()
    context_overflow: str = "summarize"  # "summarize", "truncate" or "error"
    client_summary: ClientSummary | None = None
    knowledge: KnowledgeQuery | None = None
    json_output: JsonOutput | None = None
    logprobs: int | None = None  # report logprobs with this many alternatives; None: none
    tools: ToolUse | None = None  # None: no tools offered (or tool_choice "none")
    template_kwargs: Mapping[str, Any] = field(default_factory=dict)  # extra template variables
