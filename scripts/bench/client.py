"""pocketchat over HTTP, for the bench and the backend's tests alike: the one SSE frame parser,
the /metrics reader and a timing SSE client.

The client is plain `http.client` so every frame gets its own arrival time and the socket can be
closed mid-stream exactly when the bench wants.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

DONE = "[DONE]"
# A stream's JSON frame, or the closing "[DONE]".
Frame = dict[str, Any] | str


def parse_frame(line: bytes | str) -> Frame | None:
    """One line of an SSE stream: a `data:` line's JSON as a dict, `[DONE]` as the string, and
    None for every other line (the blank line after each event, `: heartbeat` comments)."""
    text = line.decode() if isinstance(line, bytes) else line
    if not text.startswith("data:"):
        return None
    data = text[len("data:") :].strip()
    return data if data == DONE else dict(json.loads(data))


def sse_events(lines: Iterable[bytes | str]) -> Iterator[Frame]:
    """The frames of a stream read line by line (requests' `iter_lines()`, a socket's file)."""
    for line in lines:
        frame = parse_frame(line)
        if frame is not None:
            yield frame


class FrameReader:
    """The frames of a stream read in pieces of any size (one socket read at a time)."""

    def __init__(self) -> None:
        self.partial_line = b""  # what came after the last newline so far

    def feed(self, data: bytes) -> list[Frame]:
        """The frames whose line this piece completed."""
        *lines, self.partial_line = (self.partial_line + data).split(b"\n")
        return [frame for frame in map(parse_frame, lines) if frame is not None]


def get(url: str, path: str, timeout: float = 30) -> tuple[int, bytes]:
    """GET `path` from the server at `url` (http://host:port): its status and body."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def metric_samples(url: str, name: str) -> list[Sample]:
    """The samples called `name` (e.g. `pocketchat_requests_total`) in the server's /metrics."""
    _, body = get(url, "/metrics")
    return [
        sample
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == name
    ]


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    return sum(
        sample.value
        for sample in metric_samples(url, name)
        if labels.items() <= sample.labels.items()
    )


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
        frame = parse_frame(line)
        if not isinstance(frame, dict):
            continue
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
