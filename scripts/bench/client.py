"""The product side of the bench: pocketchat as a subprocess, and a timing SSE client for it.

The client is plain `http.client` so every frame gets its own arrival time and the socket can be
closed mid-stream exactly when the bench wants.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def peak_rss_of(pid: int) -> int | None:
    """VmHWM of a live process: its peak resident memory (Linux only)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class Server:
    """`python -m pocketchat` on a free loopback port, with its own settings in the environment."""

    def __init__(self, settings: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if k != "API_KEY"}
        env.update(settings, HOST="127.0.0.1", PORT=str(self.port), LOG_LEVEL="warning")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("wb")
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pocketchat"],
            env=env,
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._sampled_rss = 0
        self._sampling = True
        self._sampler = threading.Thread(target=self._sample_rss, daemon=True)
        self._sampler.start()

    def _sample_rss(self) -> None:
        """Fallback where /proc has no VmHWM: the largest RSS seen, children included."""
        try:
            process = psutil.Process(self.process.pid)
            while self._sampling:
                tree = [process, *process.children(recursive=True)]
                self._sampled_rss = max(self._sampled_rss, sum(p.memory_info().rss for p in tree))
                time.sleep(0.05)
        except psutil.Error:
            return

    def wait_healthy(self, timeout: float = 120.0) -> float:
        """Seconds from process start until GET /api/health answers 200."""
        deadline = self.started_at + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.log_tail()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/api/health")
                if connection.getresponse().status == 200:
                    return time.perf_counter() - self.started_at
                connection.close()
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"the server was not healthy after {timeout} s:\n{self.log_tail()}")

    def get_json(self, path: str) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", path)
        return json.loads(connection.getresponse().read())

    def peak_rss(self) -> int:
        own = peak_rss_of(self.process.pid)
        children = [peak_rss_of(c.pid) or 0 for c in psutil.Process(self.process.pid).children()]
        return own + sum(children) if own is not None else self._sampled_rss

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        self._sampling = False
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class StreamResult:
    """One streamed completion as the client saw it; times are time.perf_counter() seconds."""

    sent_at: float
    status: int = 0
    first_delta_at: float | None = None
    last_delta_at: float | None = None
    delta_times: list[float] = field(default_factory=list)
    closed_at: float | None = None
    text: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    error: Any = None

    @property
    def ttft_ms(self) -> float | None:
        if self.first_delta_at is None:
            return None
        return (self.first_delta_at - self.sent_at) * 1000

    @property
    def completion_tokens(self) -> int:
        return int(self.usage.get("completion_tokens", 0))

    @property
    def decode_tps(self) -> float | None:
        """Tokens after the first one over the time between the first and the last delta."""
        if self.first_delta_at is None or self.last_delta_at is None:
            return None
        elapsed = self.last_delta_at - self.first_delta_at
        tokens = self.completion_tokens - 1
        return tokens / elapsed if elapsed > 0 and tokens > 0 else None


def chat_body(messages: list[dict[str, str]], max_tokens: int, **extra: Any) -> dict[str, Any]:
    # Greedy without penalties: the same work per token as the raw loop (see docs/bench.md).
    body = {
        "messages": messages,
        "stream": True,
        "max_tokens": max_tokens,
        "temperature": 0,
        "repeat_penalty": 1.0,
    }
    body.update(extra)
    return body


def stream_chat(
    port: int, body: dict[str, Any], *, close_after_deltas: int | None = None, timeout=300.0
) -> StreamResult:
    """POST a streamed chat completion and time its frames; optionally hang up mid-stream."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    payload = json.dumps(body).encode()
    result = StreamResult(sent_at=time.perf_counter())
    connection.connect()
    # getresponse() forgets the socket when the server answers `Connection: close`; keep it.
    sock = connection.sock
    connection.request(
        "POST", "/v1/chat/completions", payload, {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    result.status = response.status
    if response.status != 200:
        result.error = response.read().decode(errors="replace")
        return result
    deltas = 0
    while line := response.readline():
        now = time.perf_counter()
        if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
            continue
        frame = json.loads(line[6:])
        if "error" in frame:
            result.error = frame["error"]
        for choice in frame.get("choices", []):
            if content := choice.get("delta", {}).get("content"):
                result.text += content
                result.first_delta_at = result.first_delta_at or now
                result.last_delta_at = now
                result.delta_times.append(now)
                deltas += 1
            result.finish_reason = choice.get("finish_reason") or result.finish_reason
        result.usage = frame.get("usage") or result.usage
        result.timings = frame.get("timings") or result.timings
        if close_after_deltas is not None and deltas >= close_after_deltas:
            # Hang up like a browser tab closing: the server only learns it from the socket.
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            response.close()
            result.closed_at = time.perf_counter()
            return result
    connection.close()
    return result


def concurrent_streams(port: int, bodies: list[dict[str, Any]]) -> list[StreamResult]:
    """Start one stream per body at the same moment (a barrier) and wait for all of them."""
    results: list[StreamResult | None] = [None] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def one(index: int) -> None:
        barrier.wait()
        results[index] = stream_chat(port, bodies[index])

    workers = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [r for r in results if r is not None]
