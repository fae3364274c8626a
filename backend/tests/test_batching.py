"""Continuous batching changes no answer: concurrent greedy replies equal solo ones."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import LiveServer
from pocketchat.engine.llama import SamplerConfig
from pocketchat.engine.prompt import Message
from pocketchat.engine.types import Finished, GenerationRequest

GREEDY = SamplerConfig(0.0, 1.0, 0, 0.0, 1.0, 64, 0.0, 0.0, None)
QUESTIONS = [
    "Write a short poem about the sea.",
    "What is the capital of France?",
    "Give me three tips for learning to cook.",
    "Explain what a computer is to a child.",
]


def first_tokens(server: LiveServer, question: str, count: int = 32) -> tuple[int, ...]:
    model = server.model
    assert model.engine is not None and model.prompt is not None
    prompt = tuple(model.prompt.tokens([Message("user", question)]))
    handle = model.engine.submit(GenerationRequest(question, prompt, count, GREEDY))
    while not isinstance(event := handle.next_event(120), Finished):
        pass
    return event.completion_token_ids


@pytest.mark.smollm2
def test_four_concurrent_greedy_replies_equal_their_solo_runs(
    live_server: Callable[..., LiveServer], smollm2_model: Path
) -> None:
    solo = [first_tokens(live_server(smollm2_model, parallel=4), q) for q in QUESTIONS]
    shared = live_server(smollm2_model, parallel=4)
    together: dict[int, tuple[int, ...]] = {}
    threads = [
        threading.Thread(target=lambda i=i, q=q: together.__setitem__(i, first_tokens(shared, q)))
        for i, q in enumerate(QUESTIONS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [together[i] for i in range(len(QUESTIONS))] == solo
    assert all(len(tokens) == 32 for tokens in solo)
