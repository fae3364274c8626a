"""A reply's pieces (content, reasoning, tool calls: chat/output.py) in OpenAI's shapes: the
delta of a stream frame, and the message of a whole reply."""

from __future__ import annotations

from pocketchat.api.responses import (
    AssistantMessage,
    ChunkDelta,
    FunctionCall,
    StreamedToolCall,
    ToolCall,
)
from pocketchat.chat.output import ReplyDelta
from pocketchat.context import tools


def _function(call: tools.ToolCall) -> FunctionCall:
    return FunctionCall(name=call.name, arguments=call.arguments)


def chunk_delta(piece: ReplyDelta) -> ChunkDelta:
    """The delta of one frame: only the fields the piece has are set (and sent)."""
    delta = ChunkDelta()
    if piece.content:
        delta.content = piece.content
    if piece.reasoning:
        delta.reasoning_content = piece.reasoning
    if piece.tool_calls:
        delta.tool_calls = [
            StreamedToolCall(
                index=piece.first_call + offset, id=call.id, type="function",
                function=_function(call),
            )
            for offset, call in enumerate(piece.tool_calls)
        ]  # fmt: skip
    return delta


class WholeReply:
    """The pieces of a reply gathered into its message."""

    def __init__(self) -> None:
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._calls: list[tools.ToolCall] = []

    def add(self, piece: ReplyDelta) -> None:
        self._content.append(piece.content)
        self._reasoning.append(piece.reasoning)
        self._calls += piece.tool_calls

    def message(self) -> AssistantMessage:
        content = "".join(self._content)
        # As OpenAI answers: no text beside the calls is null, not "".
        message = AssistantMessage(
            role="assistant", content=content if content or not self._calls else None
        )
        if reasoning := "".join(self._reasoning):
            message.reasoning_content = reasoning
        if self._calls:
            message.tool_calls = [
                ToolCall(id=call.id, type="function", function=_function(call))
                for call in self._calls
            ]
        return message
