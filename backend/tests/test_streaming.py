"""SSE framing, usage counts and prefix reuse through a real server and the tiny model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import requests
from conftest import LiveServer, chat_body, content_of, final_usage, stream_chat


def test_stream_frames_end_with_done_and_carry_usage(server: LiveServer) -> None:
    frames = stream_chat(server.url, chat_body(max_tokens=12))
    assert frames[-1] == "[DONE]"
    chunks = [f for f in frames[:-1] if isinstance(f, dict)]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [c["choices"][0]["finish_reason"] for c in finish] == ["length"]
    usage = final_usage(frames)["usage"]
    assert usage["completion_tokens"] == 12
    assert usage["total_tokens"] == usage["prompt_tokens"] + 12


def test_stream_headers_let_proxies_pass_it_through(server: LiveServer) -> None:
    with requests.post(
        f"{server.url}/v1/chat/completions", json=chat_body(stream=True), stream=True, timeout=30
    ) as response:
        headers = response.headers
        response.content  # noqa: B018 - read it to the end
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["Cache-Control"] == "no-cache"
    assert headers["X-Accel-Buffering"] == "no"


def test_streamed_deltas_add_up_to_the_unstreamed_reply(
    live_server: Callable[..., LiveServer], tiny_model: Path
) -> None:
    # Two fresh servers: a KV-cache hit changes the floating-point path of the last prompt
    # token, so the same seed is only bit-identical from the same cache state.
    body = chat_body("Tell me something", max_tokens=40, seed=7, temperature=0.8)
    streamed = content_of(stream_chat(live_server(tiny_model).url, body))
    url = live_server(tiny_model).url
    whole = requests.post(f"{url}/v1/chat/completions", json=body, timeout=30).json()
    assert whole["choices"][0]["message"]["content"] == streamed
    assert whole["usage"]["completion_tokens"] == 40


def test_follow_up_turn_prefills_only_new_tokens(server: LiveServer) -> None:
    first = chat_body("What is a llama?", max_tokens=20)
    frames = stream_chat(server.url, first)
    reply = content_of(frames)
    first_prompt = final_usage(frames)["usage"]["prompt_tokens"]
    follow = chat_body(max_tokens=5)
    follow["messages"] = [
        *first["messages"],
        {"role": "assistant", "content": reply},
        {"role": "user", "content": "And an alpaca?"},
    ]
    usage_frame = final_usage(stream_chat(server.url, follow))
    cached = usage_frame["usage"]["prompt_tokens_details"]["cached_tokens"]
    processed = usage_frame["timings"]["prompt_tokens_processed"]
    assert cached >= first_prompt
    assert processed == usage_frame["usage"]["prompt_tokens"] - cached


def test_stop_string_ends_the_reply_and_is_not_streamed(server: LiveServer) -> None:
    reference = content_of(stream_chat(server.url, chat_body(max_tokens=60)))
    stop = reference[20:23]
    frames = stream_chat(server.url, chat_body(max_tokens=60, stop=[stop]))
    text = content_of(frames)
    assert text == reference[: reference.index(stop)]
    finish = [f for f in frames if isinstance(f, dict) and f["choices"]][-1]
    assert finish["choices"][0]["finish_reason"] == "stop"


def test_a_new_conversation_does_not_evict_another_conversations_cache(
    live_server: Callable[..., LiveServer], tiny_model: Path
) -> None:
    server = live_server(tiny_model, parallel=2)
    system = {"role": "system", "content": "You are a helpful assistant."}
    first = chat_body(max_tokens=8)
    first["messages"] = [system, {"role": "user", "content": "First conversation " * 40}]
    reply = content_of(stream_chat(server.url, first))
    other = chat_body(max_tokens=8)
    other["messages"] = [system, {"role": "user", "content": "A different one " * 40}]
    stream_chat(server.url, other)  # shares only the system prompt with the first
    follow = chat_body(max_tokens=4)
    follow["messages"] = [
        *first["messages"],
        {"role": "assistant", "content": reply},
        {"role": "user", "content": "More?"},
    ]
    usage = final_usage(stream_chat(server.url, follow))["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] > 100
