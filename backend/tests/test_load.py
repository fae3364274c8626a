"""64 clients at once against 2 slots and a queue of 8: the accepted all finish, the rest are
turned away at once with 429 and Retry-After, and every waiting client is told its true place."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from conftest import (
    Figures,
    ServerProcess,
    chat_body,
    content_of,
    final_usage,
    time_limit,
)

pytestmark = pytest.mark.reliability

CLIENTS = 64
PARALLEL = 2
MAX_QUEUE = 8
REPLY_TOKENS = 300


@dataclass
class Client:
    status: int = 0
    answered_after: float = 0.0  # seconds from sending to the status line
    retry_after: str | None = None
    positions: list[int] = field(default_factory=list)
    started_at: float | None = None  # when the "generating" status arrived
    done: bool = False
    completion_tokens: int = 0
    error: str | None = None


def run_client(url: str, client: Client, barrier: threading.Barrier) -> None:
    """http.client on a connection opened before the burst: the time measured is the server's,
    not 64 client threads building requests under one GIL."""
    body = json.dumps({**chat_body("load", max_tokens=REPLY_TOKENS), "stream": True})
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
    try:
        connection.connect()
        barrier.wait()
        sent = time.monotonic()
        connection.request(
            "POST", "/v1/chat/completions", body, {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        client.answered_after = time.monotonic() - sent
        client.status = response.status
        client.retry_after = response.getheader("Retry-After")
        if response.status != 200:
            response.read()
            return
        frames: list[dict[str, Any] | str] = []
        for line in response:
            if not line.startswith(b"data: "):
                continue
            data = line[len(b"data: ") :].strip().decode()
            frame = data if data == "[DONE]" else json.loads(data)
            frames.append(frame)
            status = frame.get("status") if isinstance(frame, dict) else None
            if status and status["state"] == "queued":
                client.positions.append(status["queue_position"])
            elif status and status["state"] == "generating":
                client.started_at = time.monotonic()
        client.done = frames[-1] == "[DONE]" and bool(content_of(frames))
        client.completion_tokens = final_usage(frames)["usage"]["completion_tokens"]
    except Exception as error:  # reported by the assertions below, with the client's story
        client.error = repr(error)
    finally:
        connection.close()


def test_a_burst_of_64_clients(
    server_process: Callable[..., ServerProcess], tiny_model: Path, figures: Figures
) -> None:
    server = server_process(
        tiny_model, PARALLEL=str(PARALLEL), MAX_QUEUE=str(MAX_QUEUE), N_CTX="2048"
    )
    for _ in range(3):  # warm: the first requests of a process pay one-time costs
        requests.post(f"{server.url}/v1/chat/completions", json=chat_body(), timeout=30)
    clients = [Client() for _ in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS)
    threads = [
        threading.Thread(target=run_client, args=(server.url, client, barrier))
        for client in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert not any(thread.is_alive() for thread in threads), "a client hung: deadlock"
    assert [c.error for c in clients if c.error] == []

    accepted = [c for c in clients if c.status == 200]
    rejected = [c for c in clients if c.status == 429]
    assert len(accepted) + len(rejected) == CLIENTS
    assert len(accepted) >= PARALLEL + MAX_QUEUE
    assert all(c.done and c.completion_tokens == REPLY_TOKENS for c in accepted)
    slowest_refusal = max(c.answered_after for c in rejected)
    assert all(c.retry_after and int(c.retry_after) > 0 for c in rejected)
    assert slowest_refusal <= time_limit(0.1, 5.0)

    # Queue positions: each waiting client counts down to 1 before it starts, and clients start
    # in the order of the places they were first given (FIFO, no overtaking).
    queued = [c for c in accepted if c.positions]
    assert len(queued) >= MAX_QUEUE
    for client in queued:
        assert client.positions == sorted(client.positions, reverse=True)
        assert client.positions[-1] == 1 and client.started_at is not None
    burst = [c for c in queued if c.positions[0] <= MAX_QUEUE and c.started_at is not None]
    by_place = sorted(burst, key=lambda c: c.positions[0])
    by_start = sorted(burst, key=lambda c: c.started_at or 0.0)
    assert [c.positions[0] for c in by_place] == [c.positions[0] for c in by_start]

    # Nothing is left behind: the server is idle and answers the next request.
    metrics = requests.get(f"{server.url}/metrics", timeout=10).text
    assert "pocketchat_queue_depth 0.0" in metrics and "pocketchat_busy_slots 0.0" in metrics
    assert requests.post(f"{server.url}/v1/chat/completions", json=chat_body(), timeout=30).ok
    figures.record(
        "Load",
        f"{CLIENTS} clients at once; {PARALLEL} slots, a queue of {MAX_QUEUE}; "
        f"{REPLY_TOKENS}-token streamed replies",
        f"{len(accepted)} accepted, all completed; {len(rejected)} got 429 + Retry-After, the "
        f"slowest in {slowest_refusal * 1000:.0f} ms; {len(queued)} waited, each counted down "
        "to 1 and started in its place; no deadlock, idle afterwards",
    )
