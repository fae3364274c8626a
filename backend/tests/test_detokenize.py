"""Streaming text out of byte-level tokens: no broken characters, stop strings held back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from bench.client import sse_events
from conftest import LiveServer, chat_body, user_prompt
from pocketchat.engine.detok import TextStream
from pocketchat.engine.engine import Engine
from pocketchat.engine.llama import LlamaModel
from pocketchat.engine.types import Delta, Finished, GenerationRequest, SamplerConfig

SAMPLES = ["你好，世界", "emoji 🙂👍🏽 and 日本語", "mixed العربية and ελληνικά", "plain ascii"]


@pytest.mark.parametrize("text", SAMPLES)
def test_characters_split_across_tokens_come_out_whole(tiny_model: Path, text: str) -> None:
    model = LlamaModel(tiny_model, use_mmap=True, use_mlock=False)
    tokens = model.tokenize(text, special=False)
    assert len(tokens) > len(text.encode()) / 4  # byte-level: characters span several tokens
    stream = TextStream()
    deltas = [stream.feed(model.token_bytes(t)) for t in tokens] + [stream.finish()]
    assert "\ufffd" not in "".join(deltas)
    assert "".join(deltas) == text == stream.text


@pytest.mark.parametrize(
    ("pieces", "stop", "expected"),
    [
        (["Hello", " wor", "ld", "!"], ("world",), "Hello "),
        (["a", "b", "END", "c"], ("END",), "ab"),
        (["ab", "c"], ("cd",), "abc"),  # a prefix of a stop string that never completes
        (["x", "Y", "Z"], ("YZ", "Z"), "x"),
        (["你", "好", "。", "再见"], ("。",), "你好"),
    ],
)
def test_stop_strings_are_held_back_and_never_emitted(
    pieces: list[str], stop: tuple[str, ...], expected: str
) -> None:
    stream = TextStream(stop)
    emitted = "".join(stream.feed(p.encode()) for p in pieces) + stream.finish()
    assert emitted == expected == stream.text


def test_chinese_reply_streams_whole_characters(
    live_server: Callable[..., LiveServer], smollm2_model: Path
) -> None:
    """SmolLM2's byte-level vocabulary splits Chinese characters across tokens."""
    server = live_server(smollm2_model)
    body = chat_body("Translate to Chinese: I love spring.", max_tokens=60)
    with requests.post(
        f"{server.url}/v1/chat/completions", json={**body, "stream": True}, stream=True, timeout=60
    ) as response:
        frames = list(sse_events(response.iter_lines()))  # json.loads on every frame
    deltas = [
        f["choices"][0]["delta"].get("content", "")
        for f in frames
        if isinstance(f, dict) and f["choices"]
    ]
    text = "".join(deltas)
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in text) >= 3
    assert "\ufffd" not in text


def test_engine_deltas_add_up_to_the_final_text(engine: Engine) -> None:
    prompt = user_prompt(engine, "写一首关于春天的诗 🌸")
    sampling = SamplerConfig.greedy(temperature=1.0, seed=3)
    handle = engine.submit(GenerationRequest("d", prompt, 300, sampling))
    deltas: list[str] = []
    while not isinstance(event := handle.next_event(30), Finished):
        if isinstance(event, Delta):
            deltas.append(event.text)
    assert "".join(deltas) == event.text
