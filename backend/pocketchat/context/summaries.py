"""Summaries written by the model: the prompts that ask for them and the cache that keeps them.

A summary is computed once per stretch of conversation: it is cached by the hash of the messages
it covers, and the client stores it too and can hand it back (another replica, a restart).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from pocketchat.context.planner import message_text
from pocketchat.context.prompt import Message
from pocketchat.languages import language_of as language_of_text

# Third person: asked for "a summary", small models address the user ("You're planning...")
# and drop the name they were given.
INSTRUCTIONS = {
    "en": (
        "You condense conversations into notes. Write a short summary of the conversation "
        "below so that it can replace it. Keep every name, fact, number, date, decision and "
        'open question. Write in the third person ("The user, ...,"), plain sentences, no '
        "preamble, in the same language as the conversation."
    ),
    "zh": (
        "你负责压缩对话。请为下面的对话写一段简短的摘要，用来代替原对话。"
        "保留所有人名、事实、数字、日期、决定和未解决的问题。用第三人称书写（如“用户……”），"
        "直接写摘要，不要开场白，使用中文。"
    ),
}
LABELS = {
    "en": {
        "previous": "Summary so far:",
        "conversation": "Conversation:",
        "user": "User",
        "assistant": "Assistant",
        "tool": "Tool result",
        "ask": "Write the updated summary.",
        "note": "[Summary of the earlier part of this conversation]",
    },
    "zh": {
        "previous": "此前的摘要：",
        "conversation": "对话：",
        "user": "用户",
        "assistant": "助手",
        "tool": "工具结果",
        "ask": "请写出更新后的摘要。",
        "note": "【此前对话的摘要】",
    },
}


def language_of(messages: Sequence[Message]) -> str:
    return language_of_text("".join(m.content for m in messages))


def summary_request(
    previous: str | None, turns: Sequence[Message], language: str, supports_system: bool
) -> list[Message]:
    labels = LABELS[language]
    lines = []
    if previous:
        lines += [labels["previous"], previous, ""]
    lines.append(labels["conversation"])
    for message in turns:
        speaker = labels.get(message.role, labels["assistant"])
        lines.append(f"{speaker}: {message_text(message)}")
    lines += ["", labels["ask"]]
    body = "\n".join(lines)
    if supports_system:
        return [Message("system", INSTRUCTIONS[language]), Message("user", body)]
    return [Message("user", f"{INSTRUCTIONS[language]}\n\n{body}")]


def summary_note(summary: str, language: str) -> str:
    return f"{LABELS[language]['note']}\n{summary.strip()}"


class SummaryCache:
    """Summaries by the hash of what they cover; least recently used ones go first."""

    def __init__(self, capacity: int = 512) -> None:
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            text = self._entries.get(key)
            if text is not None:
                self._entries.move_to_end(key)
            return text

    def put(self, key: str, text: str) -> None:
        with self._lock:
            self._entries[key] = text
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
