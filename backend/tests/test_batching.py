"""Continuous batching changes no answer: concurrent greedy replies equal solo ones."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import user_prompt
from pocketchat.engine.engine import FIRST_CHUNK, MIN_CHUNK, STEP_SECONDS_WHILE_DECODING, Engine
from pocketchat.engine.slots import Handle
from pocketchat.engine.types import Delta, Finished, GenerationRequest, Progress, SamplerConfig

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


def reading_steps(handle: Handle) -> tuple[list[Progress], Finished]:
    steps = []
    while not isinstance(event := handle.next_event(120), Finished):
        assert event is not None, "no event for 120 s"
        if isinstance(event, Progress) and event.reading:
            steps.append(event)
    return steps, event


def test_a_new_prompt_is_read_in_short_steps_while_a_reply_streams_and_a_burst_in_full_ones(
    engines: Callable[..., Engine], smollm2_model: Path
) -> None:
    engine = engines(smollm2_model, parallel=3, n_ctx=4096, n_batch=512, n_ubatch=512)
    long_prompt = user_prompt(engine, "lorem ipsum dolor sit amet " * 130)
    # A burst, nothing streaming before it: full chunks, even beside the replies of the burst
    # that started first (the burst's last first token comes soonest).
    burst = [
        engine.submit(GenerationRequest(f"burst-{i}", long_prompt[i:], 2, SamplerConfig.greedy()))
        for i in range(2)
    ]
    first_steps, _ = reading_steps(burst[0])
    second_steps, _ = reading_steps(burst[1])
    # (The engine's very first chunk is short: its time gives the reading rate.)
    readings = [step.reading for step in first_steps[:-1]]
    assert readings == [FIRST_CHUNK] + [512] * (len(readings) - 1)
    assert all(step.reading >= 510 for step in second_steps[1:-1]) and len(second_steps) > 2
    assert engine.prompt_rate > 0

    # A reply already streaming: the next prompt comes in steps of about 0.8 s of reading, so
    # the reply keeps getting a token at least every second.
    no_end = SamplerConfig.greedy(logit_bias=((engine.model.eos_token, -100.0),))
    streaming = engine.submit(
        GenerationRequest("streaming", user_prompt(engine, "Tell a long story."), 600, no_end)
    )
    while not isinstance(streaming.next_event(60), Delta):
        pass
    other_prompt = user_prompt(engine, "sit amet lorem ipsum dolor " * 130)
    late = engine.submit(GenerationRequest("late", other_prompt, 2, SamplerConfig.greedy()))
    steps, _ = reading_steps(late)
    streaming.cancel()
    for step in steps:  # each step's rate is the one its chunk was sized by
        in_time = int(step.tokens_per_second * STEP_SECONDS_WHILE_DECODING)
        assert step.reading <= max(MIN_CHUNK, in_time)
    assert sum(step.reading for step in steps) == len(other_prompt) - steps[0].done
    assert max(step.reading for step in steps) < 512
