"""Stopping frees the worker at once; a full queue is a 429; nobody cuts off someone else."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from bench.client import sse_events
from conftest import (
    LiveServer,
    chat_body,
    content_of,
    final_usage,
    stream_chat,
    user_prompt,
)
from pocketchat.engine.engine import Engine
from pocketchat.engine.types import (
    Finished,
    GenerationRequest,
    Progress,
    Queued,
    SamplerConfig,
    Started,
)


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


@pytest.fixture
def one_slot(live_server: Callable[..., LiveServer], tiny_model: Path) -> LiveServer:
    return live_server(tiny_model, parallel=1, max_queue=1, n_ctx=16384)


def test_disconnect_cancels_and_frees_the_worker(one_slot: LiveServer) -> None:
    long_reply = chat_body(max_tokens=15000)
    with requests.post(
        f"{one_slot.url}/v1/chat/completions", json={**long_reply, "stream": True},
        stream=True, timeout=30,
    ) as response:  # fmt: skip
        for frame in sse_events(response.iter_lines()):
            if (
                isinstance(frame, dict)
                and frame["choices"]
                and frame["choices"][0]["delta"].get("content")
            ):
                break
    wait_for(lambda: one_slot.metric("pocketchat_requests_total", outcome="cancelled") == 1)
    # The only slot is free again: the next request gets it and completes.
    frames = stream_chat(one_slot.url, chat_body(max_tokens=8))
    assert final_usage(frames)["usage"]["completion_tokens"] == 8


def test_full_queue_is_429_with_retry_after_and_queued_sees_position(one_slot: LiveServer) -> None:
    url = f"{one_slot.url}/v1/chat/completions"
    running = requests.post(url, json={**chat_body(max_tokens=15000), "stream": True},
                            stream=True, timeout=60)  # fmt: skip
    # Keep the frame iterator referenced: collecting it would close the connection (a cancel).
    running_frames = sse_events(running.iter_lines())
    next(running_frames)
    wait_for(lambda: one_slot.runtime.engine.busy_slots == 1)
    queued = requests.post(url, json={**chat_body(max_tokens=4), "stream": True},
                           stream=True, timeout=60)  # fmt: skip
    queued_frames = sse_events(queued.iter_lines())
    statuses = [next(queued_frames), next(queued_frames)]
    assert statuses[1]["status"] == {"state": "queued", "queue_position": 1}
    rejected = requests.post(url, json=chat_body(), timeout=10)
    assert rejected.status_code == 429
    assert int(rejected.headers["Retry-After"]) > 0
    assert rejected.json()["error"]["code"] == "queue_full"
    running_frames.close()
    running.close()
    rest = list(queued_frames)
    queued.close()
    assert rest[-1] == "[DONE]"
    assert final_usage(rest)["usage"]["completion_tokens"] == 4


def test_a_new_request_never_cuts_off_a_running_stream(
    live_server: Callable[..., LiveServer], tiny_model: Path
) -> None:
    server = live_server(tiny_model, parallel=2)
    results: dict[str, int] = {}

    def run(name: str, tokens: int) -> None:
        results[name] = final_usage(stream_chat(server.url, chat_body(name, max_tokens=tokens)))[
            "usage"
        ]["completion_tokens"]

    first = threading.Thread(target=run, args=("first", 400))
    first.start()
    for index in range(4):
        run(f"other {index}", 10)
    first.join()
    assert results["first"] == 400


def test_cancel_endpoint_stops_a_running_completion(one_slot: LiveServer) -> None:
    with requests.post(
        f"{one_slot.url}/v1/chat/completions",
        json={**chat_body(max_tokens=15000), "stream": True}, stream=True, timeout=60,
    ) as response:  # fmt: skip
        frames = sse_events(response.iter_lines())
        run_id = next(frames)["id"]
        while not content_of([next(frames)]):
            pass
        cancel = requests.post(f"{one_slot.url}/v1/chat/completions/{run_id}/cancel", timeout=10)
        assert cancel.json()["cancelled"] is True
        rest = list(frames)
    assert rest[-1] == "[DONE]"
    assert final_usage(rest)["usage"]["completion_tokens"] < 15000


def test_cancel_of_unknown_id_is_404(server: LiveServer) -> None:
    response = requests.post(f"{server.url}/v1/chat/completions/chatcmpl-nope/cancel", timeout=10)
    assert response.status_code == 404


def test_cancel_during_prefill_aborts_the_decode(
    engines: Callable[..., Engine], smollm2_model: Path
) -> None:
    engine = engines(smollm2_model, parallel=1, n_ctx=8192, n_batch=8192, n_ubatch=512)
    long_prompt = user_prompt(engine, "lorem ipsum dolor sit amet " * 650)
    handle = engine.submit(GenerationRequest("prefill", long_prompt, 8, SamplerConfig.greedy()))
    while not isinstance(handle.next_event(10), Started):
        pass
    time.sleep(0.3)  # well inside a prefill of ~6,500 tokens (seconds on these CPUs)
    handle.cancel()
    finished = handle.next_event(30)
    while isinstance(finished, Progress):  # the step under way was announced before the cancel
        finished = handle.next_event(30)
    assert isinstance(finished, Finished)
    assert (finished.finish_reason, finished.completion_tokens) == ("cancelled", 0)
    assert engine.aborted_decodes >= 1
    # And the worker is free at once for the next request.
    quick = engine.submit(GenerationRequest("next", long_prompt[:50], 2, SamplerConfig.greedy()))
    event = quick.next_event(30)
    while not isinstance(event, Finished):
        event = quick.next_event(30)
    assert event.finish_reason == "length"


def test_a_prompt_waiting_for_its_turn_is_freed_without_waiting_for_the_step(
    engines: Callable[..., Engine], smollm2_model: Path
) -> None:
    # Two prompts in two slots: each step reads a 512-token chunk of the first, and the second
    # waits for its turn. Cancelled meanwhile, it is freed at once, not after the step (a
    # second or more on a small CPU), and the first's step is not aborted.
    engine = engines(smollm2_model, parallel=2, n_ctx=4096, n_batch=512, n_ubatch=512)
    long_prompt = user_prompt(engine, "lorem ipsum dolor sit amet " * 300)
    first = engine.submit(GenerationRequest("long", long_prompt, 4, SamplerConfig.greedy()))
    second = engine.submit(
        GenerationRequest("waiting", long_prompt[:100], 4, SamplerConfig.greedy())
    )
    steps: list[Progress] = []
    while len(steps) < 2:  # the second chunk of the first prompt is being read
        event = first.next_event(30)
        if isinstance(event, Progress) and event.reading:
            steps.append(event)
    time.sleep(0.05)  # inside llama_decode by now: a 512-token step takes far longer
    second.cancel()
    freed = second.next_event(10)
    while isinstance(freed, (Started, Queued)):
        freed = second.next_event(10)
    assert isinstance(freed, Finished) and freed.finish_reason == "cancelled"
    assert "waiting" not in engine.active_requests()
    # The step under way was not cut short: the first prompt's next chunk comes later.
    pending = first.next_event(0)
    assert not (isinstance(pending, Progress) and pending.done > steps[-1].done)
    assert engine.aborted_decodes == 0
    while not isinstance(event := first.next_event(60), Finished):
        assert event is not None
    assert event.finish_reason == "length"
    assert engine.cache_mismatches() == []
