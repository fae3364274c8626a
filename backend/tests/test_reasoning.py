"""A reasoning model's `<think>` block comes apart from its answer: `reasoning_content` in whole
replies and stream deltas; `chat_template_kwargs: {"enable_thinking": false}` turns it off; an
earlier reply's reasoning is never sent back to the model.

The tiny model with a template (CHAT_TEMPLATE) that opens the think block in the prompt, as
DeepSeek-R1's does, and closes it at once when thinking is off, as Qwen3's does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import LiveServer, chat_body, serve, stream_chat

THINKING_TEMPLATE = """\
{%- for message in messages %}
    {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n<think>\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}
"""
THINKING_OFF = {"chat_template_kwargs": {"enable_thinking": False}}


@pytest.fixture(scope="module")
def thinking_server(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    template = tmp_path_factory.mktemp("template") / "thinking.jinja"
    template.write_text(THINKING_TEMPLATE)
    live = serve(tiny_model, chat_template=str(template))
    yield live
    live.stop()


def whole(live: LiveServer, **fields: Any) -> dict[str, Any]:
    response = requests.post(
        f"{live.url}/v1/chat/completions", json=chat_body(max_tokens=8, **fields), timeout=60
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_thinking_is_reasoning_content_and_can_be_turned_off(thinking_server: LiveServer) -> None:
    thinking = whole(thinking_server)["choices"][0]["message"]
    answering = whole(thinking_server, **THINKING_OFF)["choices"][0]["message"]
    assert (
        bool(thinking.get("reasoning_content")), thinking["content"],
        "reasoning_content" in answering, bool(answering["content"]),
    ) == (True, "", False, True)  # fmt: skip


def test_streamed_reasoning_equals_the_whole_replys(thinking_server: LiveServer) -> None:
    frames = stream_chat(thinking_server.url, chat_body(max_tokens=8))
    deltas = [
        frame["choices"][0]["delta"]
        for frame in frames
        if isinstance(frame, dict) and frame.get("choices")
    ]
    streamed = "".join(delta.get("reasoning_content") or "" for delta in deltas)
    expected = whole(thinking_server)["choices"][0]["message"]["reasoning_content"]
    assert (streamed, "".join(d.get("content") or "" for d in deltas)) == (expected, "")


def test_reasoning_sent_back_in_the_history_is_dropped(thinking_server: LiveServer) -> None:
    def prompt_tokens(reply: dict[str, Any]) -> int:
        history = [
            {"role": "user", "content": "Hi"},
            reply,
            {"role": "user", "content": "And then?"},
        ]
        return int(whole(thinking_server, messages=history)["usage"]["prompt_tokens"])

    plain = {"role": "assistant", "content": "Hello."}
    with_reasoning = {**plain, "reasoning_content": "The user greets me. " * 20}
    assert prompt_tokens(with_reasoning) == prompt_tokens(plain)


def test_info_says_the_template_reasons(thinking_server: LiveServer) -> None:
    model = requests.get(f"{thinking_server.url}/api/info", timeout=10).json()["model"]
    assert (model["reasoning"], model["tools"]) == (True, False)


def test_a_reply_held_to_a_grammar_is_content_even_in_an_open_think_block(
    thinking_server: LiveServer,
) -> None:
    message = whole(thinking_server, response_format={"type": "json_object"})["choices"][0][
        "message"
    ]
    assert ("reasoning_content" in message, message["content"].startswith("{")) == (False, True)
