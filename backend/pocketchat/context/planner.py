"""The token budget: does the conversation fit, and if not, where to cut it.

Cuts fall on turn boundaries (a turn is a user message and the replies after it) at fixed
token quanta: the j-th cut is the first turn boundary after j * quantum tokens of history. The
quanta depend only on the earlier messages, which never change, so the same cut (and the same
summary, and the same prompt prefix in the KV cache) serves every turn until the conversation
outgrows it; then the cut moves one quantum on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pocketchat.context.prompt import Message

# Per-message template overhead (role markers, newlines) when estimating a turn's size.
MESSAGE_OVERHEAD_TOKENS = 8
CUT_MARKER = "\n\n[… {count} characters cut: the message was too long for the context …]\n\n"


@dataclass(frozen=True)
class Turn:
    start: int  # index into the history (messages without the system prompt)
    end: int
    tokens: int


@dataclass(frozen=True)
class Split:
    system: Message | None
    history: list[Message]  # everything after the system prompt


def split_system(messages: Sequence[Message]) -> Split:
    if messages and messages[0].role == "system":
        return Split(messages[0], list(messages[1:]))
    return Split(None, list(messages))


def group_turns(history: Sequence[Message], count_tokens: Callable[[str], int]) -> list[Turn]:
    """Whole user/assistant exchanges; a reply never leaves its question behind."""
    turns: list[Turn] = []
    start = 0
    for index in range(1, len(history) + 1):
        if index == len(history) or history[index].role == "user":
            tokens = sum(
                count_tokens(message_text(m)) + MESSAGE_OVERHEAD_TOKENS
                for m in history[start:index]
            )
            turns.append(Turn(start, index, tokens))
            start = index
    return turns


def cut_points(turns: Sequence[Turn], quantum: int) -> list[int]:
    """History indexes where cut 1, 2, … fall; the last turn (the question) is never cut."""
    cuts: list[int] = []
    total = 0
    level = 1
    for turn in turns[:-1]:
        total += turn.tokens
        if total >= level * quantum:
            cuts.append(turn.end)
            level = total // quantum + 1
    return cuts


def covered_hash(history: Sequence[Message], covers: int) -> str:
    """What a summary stands for: the first `covers` messages after the system prompt."""
    payload = json.dumps(
        [[m.role, m.content, *_calls(m)] for m in history[:covers]], ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def message_text(message: Message) -> str:
    """A message's content and the calls it made, as the model reads them."""
    calls = "".join(f"\n{call.name}({call.arguments})" for call in message.tool_calls)
    return message.content + calls


def _calls(message: Message) -> list[object]:
    """What a message adds to the hash beyond its text: its calls, or the call it answers."""
    if message.tool_calls:
        return [[[call.id, call.name, call.arguments] for call in message.tool_calls]]
    return [message.tool_call_id] if message.tool_call_id is not None else []


def shorten(text: str, max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """Cut the middle out of an over-long text, with a visible marker, to fit `max_tokens`."""
    if count_tokens(text) <= max_tokens:
        return text
    keep = len(text)
    while keep > 0:
        keep = keep * 3 // 4
        head, tail = text[: keep // 2], text[len(text) - keep // 2 :]
        candidate = head + CUT_MARKER.format(count=len(text) - len(head) - len(tail)) + tail
        if count_tokens(candidate) <= max_tokens:
            return candidate
    return CUT_MARKER.format(count=len(text)).strip()
