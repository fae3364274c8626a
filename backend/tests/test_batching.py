"""Continuous batching changes no answer: concurrent greedy replies equal solo ones."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import user_prompt
from pocketchat.engine.engine import Engine
from pocketchat.engine.types import Finished, GenerationRequest, SamplerConfig

QUESTIONS = [
    "Write a short poem about the sea.",
    "What is the capital of France?",
    "Give me three tips for learning to cook.",
    "Explain what a computer is to a child.",
]


def first_tokens(engine: Engine, question: str, count: int = 32) -> tuple[int, ...]:
    prompt = user_prompt(engine, question)
    handle = engine.submit(GenerationRequest(question, prompt, count, SamplerConfig.greedy()))
    while not isinstance(event := handle.next_event(120), Finished):
        pass
    return event.completion_token_ids


@pytest.mark.smollm2
def test_four_concurrent_greedy_replies_equal_their_solo_runs(
    engines: Callable[..., Engine], smollm2_model: Path
) -> None:
    solo = [first_tokens(engines(smollm2_model, parallel=4), q) for q in QUESTIONS]
    shared = engines(smollm2_model, parallel=4)
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
