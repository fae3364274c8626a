"""Bad input gets a clear OpenAI-style error, never a 500 or a trace; the server serves on."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from conftest import LiveServer, chat_body

MESSAGES = [{"role": "user", "content": "hi"}]

BAD_BODIES: list[tuple[str, Any, int, str | None]] = [
    ("not an object", [1, 2], 400, None),
    ("no messages", {"messages": []}, 400, "messages"),
    ("messages missing", {"temperature": 1}, 400, "messages"),
    ("unknown role", {"messages": [{"role": "wizard", "content": "x"}]}, 400, "messages.0.role"),
    ("content a number", {"messages": [{"role": "user", "content": 5}]}, 400, "messages.0.content"),
    ("messages a string", {"messages": "hi"}, 400, "messages"),
    ("temperature a string", {"messages": MESSAGES, "temperature": "hot"}, 400, "temperature"),
    ("temperature too high", {"messages": MESSAGES, "temperature": 3}, 400, "temperature"),
    ("top_p negative", {"messages": MESSAGES, "top_p": -0.1}, 400, "top_p"),
    ("top_k too big", {"messages": MESSAGES, "top_k": 100000}, 400, "top_k"),
    ("max_tokens zero", {"messages": MESSAGES, "max_tokens": 0}, 400, "max_tokens"),
    ("stream a string", {"messages": MESSAGES, "stream": "yes"}, 400, "stream"),
    ("n two", {"messages": MESSAGES, "n": 2}, 400, "n"),
    ("nine stop strings", {"messages": MESSAGES, "stop": ["a"] * 9}, 400, "stop"),
    ("empty stop string", {"messages": MESSAGES, "stop": [""]}, 400, "stop"),
    ("bad overflow mode", {"messages": MESSAGES, "context_overflow": "explode"}, 400,
     "context_overflow"),
    ("reply larger than context", {"messages": MESSAGES, "max_tokens": 100000}, 400, "messages"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "body", "status", "param"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES]
)
def test_invalid_fields_are_rejected_with_the_field_named(
    server: LiveServer, case: str, body: Any, status: int, param: str | None
) -> None:
    response = requests.post(f"{server.url}/v1/chat/completions", json=body, timeout=10)
    assert (response.status_code, response.json()["error"].get("param")) == (status, param)


RAW_REQUESTS: list[tuple[str, str, dict[str, str], bytes, int]] = [
    ("malformed JSON", "POST", {"Content-Type": "application/json"}, b'{"messages": [', 400),
    ("not JSON", "POST", {"Content-Type": "text/plain"}, b"hello", 415),
    ("too large", "POST", {"Content-Type": "application/json"}, b"{" + b" " * 2**21 + b"}",
     413),
    ("wrong method", "GET", {}, b"", 405),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "method", "headers", "data", "status"), RAW_REQUESTS, ids=[c[0] for c in RAW_REQUESTS]
)
def test_malformed_requests_get_json_errors(
    server: LiveServer, case: str, method: str, headers: dict[str, str], data: bytes, status: int
) -> None:
    response = requests.request(
        method, f"{server.url}/v1/chat/completions", headers=headers, data=data, timeout=10
    )
    assert response.status_code == status
    assert response.json()["error"]["message"]


def test_unknown_path_is_a_json_404(server: LiveServer) -> None:
    response = requests.get(f"{server.url}/v1/nothing", timeout=10)
    assert (response.status_code, response.json()["error"]["type"]) == (404, "not_found_error")


def test_server_keeps_serving_after_bad_input(server: LiveServer) -> None:
    for body, *_ in [(b[1],) for b in BAD_BODIES]:
        requests.post(f"{server.url}/v1/chat/completions", json=body, timeout=10)
    response = requests.post(f"{server.url}/v1/chat/completions", json=chat_body(), timeout=30)
    assert response.status_code == 200
