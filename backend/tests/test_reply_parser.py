"""The reply parser (chat/output.py): reasoning, content and tool calls split from the model's
text however the deltas cut it, the same streamed as whole."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
from pocketchat.chat.output import OutputParser, ReplyDelta, relay
from pocketchat.chat.tools import CallReader
from pocketchat.engine.types import Delta, Finished, Timings, TokenChoice, TokenLogprob

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def reader(parallel: bool = True) -> CallReader:
    return CallReader({"get_weather": jsonschema_rs.validator_for(WEATHER)}, parallel)


def parse(parser: OutputParser, chunks: list[str]) -> tuple[str, str, list[dict[str, Any]]]:
    pieces = [parser.feed(chunk) for chunk in chunks] + [parser.finish()]
    calls = [
        {"name": call.name, "arguments": json.loads(call.arguments)}
        for piece in pieces
        for call in piece.tool_calls
    ]
    reasoning = "".join(piece.reasoning for piece in pieces)
    return reasoning, "".join(piece.content for piece in pieces), calls


def characters(text: str) -> list[str]:
    return list(text)


REASONING_CASES = [
    ("whole tags", ["<think>", "I think", "</think>", "\n\nAnswer"], False, ("I think", "Answer")),
    ("tags split across tokens", ["<th", "ink>\nwhy", " so\n</th", "ink>\n\nBe", "cause"], False,
     ("why so", "Because")),
    ("no think block", ["Hello", " world"], False, ("", "Hello world")),
    ("a '<' that opens no tag", ["<", "3 is less"], False, ("", "<3 is less")),
    ("unterminated at max_tokens", ["<think>", "still thinking"], False, ("still thinking", "")),
    ("opened by the prompt", ["why", "</think>", "\n\nanswer"], True, ("why", "answer")),
    ("empty think block", ["<think>\n\n</think>\n\n", "Hi"], False, ("", "Hi")),
    ("a think tag later is text", ["Sure: ", "<think>x</think>"], False,
     ("", "Sure: <think>x</think>")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("chunks", "thinking_open", "expected"),
    [case[1:] for case in REASONING_CASES],
    ids=[case[0] for case in REASONING_CASES],
)
def test_reasoning_is_split_from_content(
    chunks: list[str], thinking_open: bool, expected: tuple[str, str]
) -> None:
    streamed = parse(OutputParser(reasoning=True, thinking_open=thinking_open), chunks)
    by_character = parse(
        OutputParser(reasoning=True, thinking_open=thinking_open), characters("".join(chunks))
    )
    assert (streamed[:2], by_character[:2]) == (expected, expected)


def test_without_reasoning_or_tools_the_text_passes_unchanged() -> None:
    chunks = ["<think>", " a ", "<tool_call>", "\n"]
    parser = OutputParser()
    assert [parser.feed(chunk).content for chunk in chunks] == chunks


TOOL_CASES = [
    ("one call, a character at a time", characters(CALL), True,
     ("", [{"name": "get_weather", "arguments": {"city": "Paris"}}])),
    ("text, then a call", ["Let me check.\n", CALL, "\n"], True,
     ("Let me check.", [{"name": "get_weather", "arguments": {"city": "Paris"}}])),
    ("two calls", [CALL, "\n", CALL], True,
     ("", [{"name": "get_weather", "arguments": {"city": "Paris"}}] * 2)),
    ("two calls, parallel off: the second is text", [CALL, "\n", CALL], False,
     (CALL, [{"name": "get_weather", "arguments": {"city": "Paris"}}])),
    ("not JSON: text", ["<tool_call>\n{nope}\n</tool_call>"], True,
     ("<tool_call>\n{nope}\n</tool_call>", [])),
    ("unknown function: text", ['<tool_call>{"name": "f", "arguments": {}}</tool_call>'], True,
     ('<tool_call>{"name": "f", "arguments": {}}</tool_call>', [])),
    ("arguments against the schema: text",
     ['<tool_call>{"name": "get_weather", "arguments": {"city": 7}}</tool_call>'], True,
     ('<tool_call>{"name": "get_weather", "arguments": {"city": 7}}</tool_call>', [])),
    ("arguments as a JSON string",
     ['<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Rome\\"}"}</tool_call>'],
     True, ("", [{"name": "get_weather", "arguments": {"city": "Rome"}}])),
    ("cut short at max_tokens: text", ['<tool_call>\n{"name": "get_we'], True,
     ('<tool_call>\n{"name": "get_we', [])),
]  # fmt: skip


@pytest.mark.parametrize(
    ("chunks", "parallel", "expected"),
    [case[1:] for case in TOOL_CASES],
    ids=[case[0] for case in TOOL_CASES],
)
def test_tool_calls_are_read_from_the_text(
    chunks: list[str], parallel: bool, expected: tuple[str, list[dict[str, Any]]]
) -> None:
    _, content, calls = parse(OutputParser(reader(parallel)), chunks)
    assert (content, calls) == expected


def test_reasoning_then_a_call() -> None:
    chunks = ["<think>\nThe user wants weather.\n</think>\n\n", *characters(CALL)]
    parsed = parse(OutputParser(reader(), reasoning=True), chunks)
    assert parsed == (
        "The user wants weather.",
        "",
        [{"name": "get_weather", "arguments": {"city": "Paris"}}],
    )


def test_each_call_gets_its_own_id_and_index() -> None:
    parser = OutputParser(reader())
    pieces = [parser.feed(CALL), parser.feed("\n" + CALL), parser.finish()]
    indexed = [(p.first_call, len(p.tool_calls)) for p in pieces if p.tool_calls]
    ids = {call.id for call in parser.tool_calls}
    assert (indexed, len(ids)) == ([(0, 1), (1, 1)], 2)


def logprob(text: str) -> TokenLogprob:
    return TokenLogprob(TokenChoice(text, text.encode(), -0.5), ())


def finished(reason: str) -> Finished:
    return Finished(reason, "", 1, 0, 1, Timings(0, 0, 0, 0, 0, 0))


def test_relay_keeps_logprobs_with_held_text_and_says_tool_calls() -> None:
    events = [
        Delta("<tool", (logprob("<tool"),)),
        Delta(CALL[len("<tool") :], (logprob("rest"),)),
        finished("stop"),
    ]
    out = list(relay(iter(events), OutputParser(reader())))
    pieces = [event for event in out if isinstance(event, ReplyDelta)]
    last = out[-1]
    assert isinstance(last, Finished)
    assert (
        [[t.chosen.text for t in piece.logprobs] for piece in pieces],
        last.finish_reason,
    ) == ([["<tool", "rest"]], "tool_calls")


def test_a_call_cut_by_max_tokens_keeps_length() -> None:
    events = [Delta(CALL[:20]), finished("length")]
    last = list(relay(iter(events), OutputParser(reader())))[-1]
    assert isinstance(last, Finished) and last.finish_reason == "length"
