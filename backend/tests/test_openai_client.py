"""The official `openai` Python client works against the server, streamed and not."""

from __future__ import annotations

from conftest import LiveServer
from openai import OpenAI


def test_openai_client_streams_a_reply(server: LiveServer) -> None:
    client = OpenAI(base_url=f"{server.url}/v1", api_key="unused")
    stream = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "Hello"}],
        stream=True,
        max_tokens=10,
        temperature=0,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 10


def test_openai_client_gets_a_whole_reply(server: LiveServer) -> None:
    client = OpenAI(base_url=f"{server.url}/v1", api_key="unused")
    completion = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Hello"}], max_tokens=6
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 6
    assert [m.id for m in client.models.list()] == ["tiny"]
