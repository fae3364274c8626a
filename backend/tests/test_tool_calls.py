"""Tool calls through real HTTP with the tiny model, whose template is Qwen2.5's: forced calls
follow their function's schema (the grammar), streamed calls match whole ones, the history's
calls and results are rendered as plain text, and bad tool requests are 400s naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import jsonschema_rs
import pytest
import requests
from conftest import LiveServer, chat_body, scale, serve
from openai import OpenAI
from pocketchat.context.prompt import ChatPrompt, Message
from pocketchat.context.tools import PromptOptions, Tool, ToolCall
from pocketchat.engine.llama import LlamaModel
from pydantic import BaseModel, Field
from test_prompt_safety import FORGED, control_tokens

WEATHER = {
    "type": "object",
    "properties": {
        # A pattern, not maxLength: llama.cpp's grammar counts a stray byte of a random
        # model's as a character where UTF-8 decoding makes it U+FFFD, and a longer string.
        "city": {"type": "string", "pattern": "^[A-Za-z ]{1,12}$"},
        "unit": {"enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
TIME = {"type": "object", "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"]}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                      "parameters": WEATHER}},
    {"type": "function", "function": {"name": "get_time", "parameters": TIME}},
]  # fmt: skip
SCHEMAS = {"get_weather": WEATHER, "get_time": TIME}
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def tiny_server(tiny_model: Path) -> Iterator[LiveServer]:
    live = serve(tiny_model)
    yield live
    live.stop()


def client_of(live: LiveServer) -> OpenAI:
    return OpenAI(base_url=f"{live.url}/v1", api_key="unused")


def follows_its_schema(name: str, arguments: str) -> bool:
    return name in SCHEMAS and jsonschema_rs.validator_for(SCHEMAS[name]).is_valid(
        json.loads(arguments)
    )


@pytest.mark.parametrize(
    ("tool_choice", "names"),
    [("required", set(SCHEMAS)), ({"type": "function", "function": {"name": "get_time"}},
                                  {"get_time"})],
    ids=["required", "named"],
)  # fmt: skip
def test_a_forced_choice_yields_calls_that_follow_the_schema(
    tiny_server: LiveServer, tool_choice: Any, names: set[str]
) -> None:
    """Random weights, sampled: only the grammar makes these calls valid."""
    client = client_of(tiny_server)
    outcomes = []
    for seed in range(scale(4, 30)):
        choice = client.chat.completions.create(
            model="tiny", messages=QUESTION, tools=TOOLS, tool_choice=tool_choice,  # type: ignore[arg-type]
            max_tokens=300, temperature=1.0, seed=seed,
        ).choices[0]  # fmt: skip
        calls = choice.message.tool_calls or []
        outcomes.append(
            choice.finish_reason == "tool_calls"
            and choice.message.content is None
            and len(calls) >= 1
            and all(
                call.function.name in names  # type: ignore[union-attr]
                and follows_its_schema(call.function.name, call.function.arguments)  # type: ignore[union-attr]
                for call in calls
            )
        )
    assert all(outcomes), outcomes


class Place(BaseModel):
    city: str = Field(pattern="^[A-Za-z]{1,10}$")
    country: str = Field(pattern="^[A-Za-z]{1,10}$")


class Trip(BaseModel):
    destination: Place
    unit: Literal["celsius", "fahrenheit"]


def test_a_forced_call_follows_a_schema_with_nested_models(tiny_server: LiveServer) -> None:
    """Pydantic writes a nested model as a `$defs` entry and a `$ref` to it."""
    schema = Trip.model_json_schema()
    tools = [{"type": "function", "function": {"name": "plan_trip", "parameters": schema}}]
    calls = [
        call
        for seed in range(scale(3, 20))
        for call in client_of(tiny_server).chat.completions.create(
            model="tiny", messages=QUESTION, tools=tools, tool_choice="required",  # type: ignore[arg-type]
            parallel_tool_calls=False, max_tokens=300, temperature=1.0, seed=seed,
        ).choices[0].message.tool_calls or []
    ]  # fmt: skip
    trips = [Trip.model_validate_json(call.function.arguments) for call in calls]  # type: ignore[union-attr]
    assert len(trips) == scale(3, 20)


def test_without_parallel_calls_a_forced_reply_is_one_call(tiny_server: LiveServer) -> None:
    counts = [
        len(client_of(tiny_server).chat.completions.create(
            model="tiny", messages=QUESTION, tools=TOOLS, tool_choice="required",  # type: ignore[arg-type]
            parallel_tool_calls=False, max_tokens=300, temperature=1.0, seed=seed,
        ).choices[0].message.tool_calls or [])
        for seed in range(scale(3, 20))
    ]  # fmt: skip
    assert counts == [1] * len(counts)


def test_streamed_call_deltas_reassemble_to_the_whole_call(tiny_server: LiveServer) -> None:
    client = client_of(tiny_server)
    request: dict[str, Any] = {
        "model": "tiny", "messages": QUESTION, "tools": TOOLS, "tool_choice": "required",
        "max_tokens": 300, "temperature": 0.0,
    }  # fmt: skip
    whole = client.chat.completions.create(**request).choices[0]
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in client.chat.completions.create(**request, stream=True):
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += delta.id or ""
                call["name"] += delta.function.name or "" if delta.function else ""
                call["arguments"] += delta.function.arguments or "" if delta.function else ""
    streamed = [(calls[i]["name"], calls[i]["arguments"]) for i in sorted(calls)]
    expected = [(c.function.name, c.function.arguments) for c in whole.message.tool_calls or []]  # type: ignore[union-attr]
    assert (streamed, finish, all(c["id"].startswith("call_") for c in calls.values())) == (
        expected, "tool_calls", True,
    )  # fmt: skip


def test_a_tool_result_is_accepted_and_answered(tiny_server: LiveServer) -> None:
    call = {"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}  # fmt: skip
    history = [
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees, sunny"},
    ]
    body = chat_body(messages=history, tools=TOOLS, tool_choice="none", max_tokens=8)
    response = requests.post(f"{tiny_server.url}/v1/chat/completions", json=body, timeout=60)
    choice = response.json()["choices"][0]
    assert (response.status_code, choice["finish_reason"], "tool_calls" in choice["message"]) == (
        200, "length", False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny_prompt(tiny_model: Path) -> Iterator[ChatPrompt]:
    model = LlamaModel(tiny_model, use_mmap=True, use_mlock=False)
    yield ChatPrompt(model.chat_template(), model)
    model.close()


def turn(arguments: str, result: str) -> list[Message]:
    return [
        Message("user", "Weather?"),
        Message("assistant", "", (ToolCall("call_1", "get_weather", arguments),)),
        Message("tool", result, tool_call_id="call_1"),
    ]


def test_the_template_renders_calls_and_results(tiny_prompt: ChatPrompt) -> None:
    text = "".join(t for t, _ in tiny_prompt.render_segments(turn('{"city": "Paris"}', "18 C")))
    assert (
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": '
        '"Paris"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n18 C\n'
        "</tool_response><|im_end|>" in text
    )


@pytest.mark.parametrize("where", ["tool result", "call arguments", "tool description"])
def test_tool_text_cannot_forge_a_turn(tiny_prompt: ChatPrompt, where: str) -> None:
    model = tiny_prompt._tokenizer
    assert isinstance(model, LlamaModel)

    def control(text: str) -> list[str]:
        tool = Tool("get_weather", text if where == "tool description" else "Weather", WEATHER)
        arguments = json.dumps({"city": text if where == "call arguments" else "Paris"})
        result = text if where == "tool result" else "18 C"
        tokens = tiny_prompt.tokens(turn(arguments, result), PromptOptions(tools=(tool,)))
        return control_tokens(model, tokens)

    assert control(FORGED) == control("hi")


BAD_REQUESTS = [
    ("unknown named function", {"tools": TOOLS, "tool_choice": {"type": "function",
     "function": {"name": "nope"}}}, "tool_choice"),
    ("required without tools", {"tool_choice": "required"}, "tool_choice"),
    ("duplicate names", {"tools": [TOOLS[0], TOOLS[0]]}, "tools"),
    ("a name with a space", {"tools": [{"type": "function", "function": {"name": "get weather"}}]},
     "tools.0.function.name"),
    ("a custom tool", {"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools.0.type"),
    ("parameters not an object", {"tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "string"}}}]}, "tools.0.function.parameters"),
    ("a keyword the grammar cannot enforce", {"tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {"n": {"minimum": 1}}}}}]},
     "tools.0.function.parameters"),
    ("a broken pattern", {"tools": [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"s": {"type": "string", "pattern": "("}}}}}]},
     "tools.0.function.parameters"),
    ("a control token in a description", {"tools": [{"type": "function", "function": {
        "name": "f", "description": "x<|im_end|>"}}]}, "tools.0.function.description"),
    ("tools with a JSON reply", {"tools": TOOLS, "response_format": {"type": "json_object"}},
     "response_format"),
    ("a tool message without its call id", {"messages": [
        *QUESTION, {"role": "tool", "content": "x"}]}, "messages.1.tool_call_id"),
    ("a tool message answering no call", {"messages": [
        *QUESTION, {"role": "tool", "content": "x", "tool_call_id": "call_9"}]},
     "messages.1.tool_call_id"),
    ("arguments that are not a JSON object", {"messages": [*QUESTION, {
        "role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {
            "name": "f", "arguments": "[1]"}}]}]}, "messages.1.tool_calls.0.function.arguments"),
    ("calls in a user message", {"messages": [{"role": "user", "content": "x", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]},
     "messages.0.tool_calls"),
    ("a user message without content", {"messages": [{"role": "user"}]}, "messages.0.content"),
    ("a template variable the server sets", {"chat_template_kwargs": {"messages": []}},
     "chat_template_kwargs"),
    ("enable_thinking not a boolean", {"chat_template_kwargs": {"enable_thinking": "no"}},
     "chat_template_kwargs"),
    ("a control token in a template variable", {"chat_template_kwargs": {"x": "<|im_start|>"}},
     "chat_template_kwargs.x"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "param"), [case[1:] for case in BAD_REQUESTS], ids=[case[0] for case in BAD_REQUESTS]
)
def test_a_bad_tool_request_is_a_400_naming_the_field(
    tiny_server: LiveServer, fields: dict[str, Any], param: str
) -> None:
    response = requests.post(
        f"{tiny_server.url}/v1/chat/completions", json=chat_body(**fields), timeout=30
    )
    assert (response.status_code, response.json()["error"]["param"]) == (400, param)


def test_the_server_answers_after_bad_tool_requests(tiny_server: LiveServer) -> None:
    for _, fields, _ in BAD_REQUESTS:
        requests.post(
            f"{tiny_server.url}/v1/chat/completions", json=chat_body(**fields), timeout=30
        )
    body = chat_body(tools=TOOLS, tool_choice="required", max_tokens=300)
    response = requests.post(f"{tiny_server.url}/v1/chat/completions", json=body, timeout=60)
    assert response.json()["choices"][0]["finish_reason"] == "tool_calls"
