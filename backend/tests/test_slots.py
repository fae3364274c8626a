"""Which slot a request gets: returning conversations find their cache, and replies decoded
together sit in consecutive sequences so that llama.cpp decodes them in one ubatch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pocketchat.engine.engine import Engine
from pocketchat.engine.placement import runs as _runs
from pocketchat.engine.types import Finished, GenerationRequest, SamplerConfig, Started

GREEDY = SamplerConfig.greedy()
# Every prompt starts with these tokens, as every conversation of the web app starts with its
# system prompt. Short enough not to make a new conversation the owner of another's cache.
SYSTEM = (7, 8, 9)


@pytest.mark.parametrize(
    ("seqs", "runs"), [(set(), 0), ({3}, 1), ({0, 1, 2}, 1), ({0, 2, 3}, 2), ({0, 2, 5, 7}, 4)]
)
def test_runs_count_the_ubatches_a_step_is_cut_into(seqs: set[int], runs: int) -> None:
    assert _runs(seqs) == runs


def finish(engine: Engine, request_id: str, prompt: list[int], max_tokens: int = 12) -> Finished:
    handle = engine.submit(GenerationRequest(request_id, tuple(prompt), max_tokens, GREEDY))
    while not isinstance(event := handle.next_event(60), Finished):
        pass
    return event


class Conversation:
    """A growing prompt: each turn adds the previous reply and a new user text."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine, self.name = engine, name
        self.tokens: list[int] = list(SYSTEM)
        self.turns = 0

    def turn(self, text: str) -> Finished:
        self.turns += 1
        self.tokens += self.engine.model.tokenize(f" {self.name}: {text}", special=False)
        finished = finish(self.engine, f"{self.name}-{self.turns}", self.tokens)
        self.tokens += list(finished.completion_token_ids)
        return finished


def slot_of(engine: Engine, conversation: Conversation) -> int:
    """The sequence whose cached tokens start with the conversation's."""
    for slot in engine._slots:
        if slot.cached and conversation.tokens[: len(slot.cached)] == slot.cached:
            return slot.seq
    raise AssertionError(f"{conversation.name} has no cache")


# Cache sizes decide which slot a new conversation takes (the one whose cache costs least):
# Ann's (slot 0) goes first, then Cid's (slot 2), which would cut every step in two.
OPENERS = {
    "Ann": "hi",
    "Bea": "tell me a long story about the sea, the ships and the old harbour at night",
    "Cid": "hi there, you",
    "Dan": "tell me a long story about mountains, rivers, valleys and the first snow",
}


def test_a_reply_moves_beside_the_busy_ones_and_the_moved_cache_still_answers_the_same(
    engines: Callable[..., Engine], tiny_model: Path
) -> None:
    newcomer = [*SYSTEM, 4, 5, 6]
    alone = engines(tiny_model, parallel=4)
    expected = {}
    for name, opener in OPENERS.items():
        reference = Conversation(alone, name)
        reference.turn(opener)
        expected[name] = reference.turn("and then?").completion_token_ids
    expected_newcomer = finish(alone, "newcomer", newcomer, max_tokens=6)
    assert expected_newcomer.cached_tokens == len(SYSTEM)

    engine = engines(tiny_model, parallel=4)
    talks = {name: Conversation(engine, name) for name in OPENERS}
    for name, talk in talks.items():
        talk.turn(OPENERS[name])
    before = {name: slot_of(engine, talk) for name, talk in talks.items()}
    assert list(before.values()) == [0, 1, 2, 3]

    # Two new replies at once: they end up in neighbouring slots.
    long_reply = engine.submit(GenerationRequest("long", (*SYSTEM, 1, 2, 3), 400, GREEDY))
    short = engine.submit(GenerationRequest("newcomer", tuple(newcomer), 6, GREEDY))
    for handle in (long_reply, short):
        while not isinstance(handle.next_event(60), Started):
            pass
    busy = {slot.seq for slot in engine._slots if slot.busy}
    while not isinstance(short_done := short.next_event(60), Finished):
        pass
    long_reply.cancel()
    assert (_runs(busy), len(busy), engine.relocations) == (1, 2, 1)
    # The slot taken keeps the system prompt it held, and answers as any other slot would.
    assert short_done.cached_tokens == len(SYSTEM)
    assert short_done.completion_token_ids == expected_newcomer.completion_token_ids

    moved = [
        name
        for name, talk in talks.items()
        if _slot_or_none(engine, talk) not in (None, before[name])
    ]
    assert len(moved) == 1
    again = talks[moved[0]].turn("and then?")
    assert again.cached_tokens > 0
    assert again.completion_token_ids == expected[moved[0]]


def _slot_or_none(engine: Engine, conversation: Conversation) -> int | None:
    try:
        return slot_of(engine, conversation)
    except AssertionError:
        return None
