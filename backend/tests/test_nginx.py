"""The shipped nginx configs (deploy/nginx/) in front of real `python -m pocketchat` processes.

Debian's nginx runs in the foreground from a temp dir, with the site files' addresses replaced
by loopback ports: tokens stream through it, a client's disconnect stops the generation
upstream, and conversations keep to one replica.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bench.client import FrameReader, metric_samples
from bench.server import ServerProcess, free_port
from conftest import chat_body, start_server_process
from pocketchat.settings import REPO_ROOT

NGINX = Path("/usr/sbin/nginx")
DEPLOY = REPO_ROOT / "deploy" / "nginx"
# The tiny model at temperature 0 practically never ends its turn: a reply runs to max_tokens.
LONG_REPLY_TOKENS = 3000
SERVER_SETTINGS = {
    # One slot: a generation that kept running after its client left would hold up the
    # next request, which test_client_disconnect_stops_generation_upstream looks for.
    "PARALLEL": "1",
    "N_THREADS": "1",
    "N_CTX": "8192",
    # Heartbeats are writes, and a write reveals a closed client even to a proxy that
    # ignores hang-ups: keep them out of the disconnect tests' time frame.
    "HEARTBEAT_SECONDS": "60",
}

pytestmark = pytest.mark.nginx


@pytest.fixture(scope="module", autouse=True)
def nginx_installed() -> None:
    """Missing nginx fails these tests (`make test` names it before it starts): no silent skip."""
    if not NGINX.exists():
        pytest.fail(f"{NGINX} is missing: install Debian's nginx (apt-get install nginx)")


def requests_by_outcome(server: ServerProcess) -> dict[str, float]:
    samples = metric_samples(server.url, "pocketchat_requests_total")
    return {sample.labels["outcome"]: sample.value for sample in samples}


def requests_total(server: ServerProcess) -> float:
    return sum(requests_by_outcome(server).values())


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def replicas(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServerProcess]]:
    """Two server processes, shared by the module's tests (each test compares metric deltas)."""
    logs = tmp_path_factory.mktemp("servers")
    servers = [
        start_server_process(tiny_model, logs / f"server-{n}.log", **SERVER_SETTINGS)
        for n in range(2)
    ]
    yield servers
    for server in servers:
        server.stop()


def site_config(name: str, upstreams: list[str], port: int) -> str:
    """A shipped site file with loopback addresses in place of the compose service names."""
    text = (DEPLOY / name).read_text()
    servers = re.findall(r"^\s*server\s+(\S+:8000)\b", text, re.M)
    assert len(servers) == len(upstreams), f"{name} has upstream servers {servers}"
    for shipped, loopback in zip(servers, upstreams, strict=True):
        text = re.sub(rf"\bserver\s+{re.escape(shipped)}", f"server {loopback}", text)
    text = text.replace("listen 80;", f"listen 127.0.0.1:{port};")
    return text.replace("/etc/nginx/snippets/", f"{DEPLOY}/snippets/")


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start nginx in the foreground, one process, with its own pid, logs and temp dirs."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(site: str, upstreams: list[str]) -> str:
        port = free_port()
        prefix = tmp_path / f"nginx-{port}"
        prefix.mkdir()
        (prefix / "site.conf").write_text(site_config(site, upstreams, port))
        temp_paths = "\n".join(
            f"    {kind}_temp_path {prefix}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (prefix / "nginx.conf").write_text(
            f"daemon off;\nmaster_process off;\nworker_processes 1;\n"
            f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log info;\n"
            f"events {{ worker_connections 64; }}\n"
            f"http {{\n    access_log {prefix}/access.log;\n{temp_paths}\n"
            f"    include {prefix}/site.conf;\n}}\n"
        )
        process = subprocess.Popen(
            [str(NGINX), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
             "-e", str(prefix / "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        processes.append(process)

        def listening() -> bool:
            if process.poll() is not None:
                raise AssertionError((prefix / "error.log").read_text(errors="replace"))
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, 10, "nginx")
        return f"127.0.0.1:{port}"

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Arrivals:
    """When each SSE frame reached the client, and in how many separate reads."""

    started: float
    frames: list[tuple[float, Any]]  # (arrival time, JSON frame or "[DONE]")
    reads_with_content: int

    def content_times(self) -> list[float]:
        return [at for at, frame in self.frames if is_content(frame)]


def is_content(frame: Any) -> bool:
    return isinstance(frame, dict) and any(
        choice.get("delta", {}).get("content") for choice in frame.get("choices", [])
    )


def stream_arrivals(
    address: str,
    body: dict[str, Any],
    stop_after_frames: int | None = None,
    headers: dict[str, str] | None = None,
) -> Arrivals:
    """POST a streamed chat through `address`, timing every read (http.client's read1 returns
    what one chunk brought). With stop_after_frames, hang up mid-stream like a closed tab."""
    host, port = address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    started = time.monotonic()
    connection.request(
        "POST", "/v1/chat/completions", json.dumps({**body, "stream": True}),
        {"Content-Type": "application/json", **(headers or {})},
    )  # fmt: skip
    response = connection.getresponse()
    assert response.status == 200, response.read()
    frames: list[tuple[float, Any]] = []
    reads_with_content = 0
    reader = FrameReader()
    try:
        while not frames or frames[-1][1] != "[DONE]":
            data = response.read1(65536)
            if not data:
                break
            now = time.monotonic()
            new = [(now, frame) for frame in reader.feed(data)]
            frames += new
            reads_with_content += any(is_content(frame) for _, frame in new)
            if stop_after_frames is not None and len(frames) >= stop_after_frames:
                break
    finally:
        connection.close()
    return Arrivals(started, frames, reads_with_content)


def long_reply(**fields: Any) -> dict[str, Any]:
    return chat_body("Tell me a long story.", max_tokens=LONG_REPLY_TOKENS, **fields)


def test_tokens_stream_through_nginx_as_they_are_generated(
    replicas: list[ServerProcess], nginx: Callable[..., str]
) -> None:
    arrivals = stream_arrivals(nginx("pocketchat.conf", [replicas[0].address]), long_reply())

    times = arrivals.content_times()
    assert arrivals.frames[-1][1] == "[DONE]"
    assert len(times) > LONG_REPLY_TOKENS // 2
    # The first words are on screen long before the reply is complete...
    assert times[0] - arrivals.started < (times[-1] - arrivals.started) / 4
    # ...and the rest keep coming a few at a time, not in buffer-sized lumps (a 4 KB buffer
    # holds about 17 frames; a busy 2-core machine measured 2 frames per read).
    assert arrivals.reads_with_content > len(times) / 8, (arrivals.reads_with_content, len(times))


def test_client_disconnect_stops_generation_upstream(
    replicas: list[ServerProcess], nginx: Callable[..., str]
) -> None:
    server = replicas[0]
    address = nginx("pocketchat.conf", [server.address])
    full = stream_arrivals(address, long_reply())
    full_seconds = full.frames[-1][0] - full.started
    cancelled_before = requests_by_outcome(server).get("cancelled", 0)

    partial = stream_arrivals(address, long_reply(), stop_after_frames=20)
    assert partial.frames[-1][1] != "[DONE]"

    wait_until(
        lambda: requests_by_outcome(server).get("cancelled", 0) == cancelled_before + 1,
        max(10, 3 * full_seconds), "the server to count the request as cancelled",
    )  # fmt: skip
    # The one slot is free again: the next request waits for nothing.
    following = stream_arrivals(address, chat_body(max_tokens=4))
    usage = next(frame for _, frame in following.frames if "usage" in frame)
    assert usage["timings"]["queued_ms"] < 1000 * full_seconds / 4


def test_client_leaving_the_queue_is_noticed_while_the_stream_is_silent(
    replicas: list[ServerProcess], nginx: Callable[..., str]
) -> None:
    """nginx must notice a hang-up without writing to the client (proxy_ignore_client_abort
    off): a queued request gets a heartbeat only every HEARTBEAT_SECONDS."""
    server = replicas[0]
    address = nginx("pocketchat.conf", [server.address])
    cancelled_before = requests_by_outcome(server).get("cancelled", 0)
    first_done = threading.Event()

    def occupy_the_only_slot() -> None:
        stream_arrivals(address, long_reply())
        first_done.set()

    occupier = threading.Thread(target=occupy_the_only_slot)
    occupier.start()
    try:
        wait_until(
            lambda: server.metric("pocketchat_busy_slots") == 1, 10, "the first request to start"
        )
        queued = stream_arrivals(address, long_reply(), stop_after_frames=2)
        states = [frame.get("status", {}).get("state") for _, frame in queued.frames]
        assert "queued" in states, queued.frames
        wait_until(
            lambda: requests_by_outcome(server).get("cancelled", 0) == cancelled_before + 1,
            60, "the server to count the queued request as cancelled",
        )  # fmt: skip
        assert not first_done.is_set(), "the hang-up was noticed only when the queue moved"
    finally:
        occupier.join(60)


def test_a_conversation_keeps_to_one_replica_and_conversations_spread(
    replicas: list[ServerProcess], nginx: Callable[..., str]
) -> None:
    address = nginx("replicas.conf", [server.address for server in replicas])

    def served_by(requests_to_send: Callable[[], None]) -> list[float]:
        before = [requests_total(server) for server in replicas]
        requests_to_send()
        after = [requests_total(server) for server in replicas]
        return [a - b for a, b in zip(after, before, strict=True)]

    def send(conversation_ids: list[str | None]) -> None:
        for conversation_id in conversation_ids:
            headers = {"X-Conversation-Id": conversation_id} if conversation_id else {}
            stream_arrivals(address, chat_body(max_tokens=2), headers=headers)

    # 16 conversations over two replicas: all on one would be a 1 in 30,000 chance.
    spread = served_by(lambda: send([f"conversation-{n}" for n in range(16)]))
    assert sum(spread) == 16
    assert min(spread) > 0, spread

    sticky = served_by(lambda: send(["the-same-conversation"] * 6))
    assert sorted(sticky) == [0, 6], sticky

    # Requests without the header are spread at random rather than all hashed alike.
    anonymous = served_by(lambda: send([None] * 16))
    assert min(anonymous) > 0, anonymous
