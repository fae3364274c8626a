"""Fixtures, as in flaskr: the real llama.cpp with a tiny generated model, real HTTP servers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from pocketchat.__main__ import make_server
from pocketchat.app import create_app
from pocketchat.model import EXTENSION_KEY, ChatModel
from pocketchat.settings import REPO_ROOT, Settings

TINY_MODEL = REPO_ROOT / "models" / "test" / "tiny.gguf"
# `make stress` sets this: the reliability tests run at full size (thousands of fuzzed cases,
# 100 faults, a 1,000-request soak) and hold their time limits; `make test` runs them small.
STRESS = os.environ.get("POCKETCHAT_STRESS") == "1"


def scale(fast: int, stress: int) -> int:
    """How many cases, clients or requests a reliability test runs in this mode."""
    return stress if STRESS else fast


def time_limit(stress_seconds: float, fast_seconds: float) -> float:
    """The stress suite holds the target; `make test` on a shared machine only catches hangs."""
    return stress_seconds if STRESS else fast_seconds


class Figures:
    """What a reliability test tried and what held, for `make stress`'s table.

    Recorded after the test's assertions pass; with POCKETCHAT_FIGURES set, each figure is
    appended to that file as a JSON line (scripts/stress.py reads it).
    """

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None

    def record(self, area: str, tried: str, held: str) -> None:
        if self.path is not None:
            figure = {"area": area, "tried": tried, "held": held}
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(figure, ensure_ascii=False) + "\n")


@pytest.fixture(scope="session")
def figures() -> Figures:
    return Figures(os.environ.get("POCKETCHAT_FIGURES"))


SMOLLM2_MODEL = REPO_ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    if not TINY_MODEL.exists():
        subprocess.run(
            [sys.executable, str(REPO_ROOT / "scripts" / "make_test_model.py"),
             "--shape", "tiny", "--out", str(TINY_MODEL)],
            check=True,
        )  # fmt: skip
    return TINY_MODEL


@pytest.fixture(scope="session")
def smollm2_model() -> Path:
    if not SMOLLM2_MODEL.exists():
        subprocess.run(
            [sys.executable, str(REPO_ROOT / "scripts" / "download_model.py"),
             "--preset", "smollm2-135m-instruct"],
            check=True,
        )  # fmt: skip
    return SMOLLM2_MODEL


def make_settings(model: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "model_path": model,
        "n_ctx": 2048,
        "parallel": 2,
        "n_threads": 2,
        "max_queue": 4,
        "heartbeat_seconds": 0.5,
        "static_dir": REPO_ROOT / "frontend" / "dist",
    }
    values.update(overrides)
    return Settings(**values)


def build_app(model: Path, **overrides: Any) -> Flask:
    app = create_app(make_settings(model, **overrides), load_in_background=False)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def app(tiny_model: Path) -> Iterator[Flask]:
    app = build_app(tiny_model)
    yield app
    app.extensions[EXTENSION_KEY].shutdown()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    app: Flask
    url: str
    stop: Callable[[], None] = field(repr=False)

    @property
    def model(self) -> ChatModel:
        model: ChatModel = self.app.extensions[EXTENSION_KEY]
        return model

    def metric(self, name: str) -> float:
        """The sum of a metric's samples whose line starts with `name` in /metrics."""
        text = requests.get(f"{self.url}/metrics", timeout=10).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name) and not line.startswith("#")
        )


def serve(model: Path, **overrides: Any) -> LiveServer:
    """A real waitress server (as `python -m pocketchat` runs it) on a free loopback port."""
    app = build_app(model, **overrides)
    port = free_port()
    server = make_server(app, app.config["SETTINGS"], port=port)
    stopping = threading.Event()

    def run() -> None:
        try:
            server.run()
        except (OSError, ValueError):
            # The loop fails on the map that close() empties: that is how it ends.
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        app.extensions[EXTENSION_KEY].shutdown()
        server.task_dispatcher.shutdown(timeout=1)
        server.close()
        thread.join(5)

    return LiveServer(app, f"http://127.0.0.1:{port}", stop)


@pytest.fixture
def live_server() -> Iterator[Callable[..., LiveServer]]:
    """Start live servers; each is stopped when the test ends."""
    started: list[LiveServer] = []

    def start(model: Path, **overrides: Any) -> LiveServer:
        live = serve(model, **overrides)
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def server(live_server: Callable[..., LiveServer], tiny_model: Path) -> LiveServer:
    return live_server(tiny_model)


def chat_body(content: str = "Hello", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": content}],
        "temperature": 0,
        "max_tokens": 16,
    }
    body.update(fields)
    return body


def sse_events(response: requests.Response) -> Iterator[dict[str, Any] | str]:
    """Parse a streamed response: JSON frames as dicts, `[DONE]` as the string."""
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("data: "):
            data = line[len("data: ") :]
            yield data if data == "[DONE]" else json.loads(data)


def stream_chat(url: str, body: dict[str, Any], **kwargs: Any) -> list[dict[str, Any] | str]:
    with requests.post(
        f"{url}/v1/chat/completions", json={**body, "stream": True}, stream=True, timeout=60,
        **kwargs,
    ) as response:  # fmt: skip
        response.raise_for_status()
        return list(sse_events(response))


def content_of(frames: list[dict[str, Any] | str]) -> str:
    return "".join(
        frame["choices"][0]["delta"].get("content") or ""
        for frame in frames
        if isinstance(frame, dict) and frame.get("choices")
    )


def final_usage(frames: list[dict[str, Any] | str]) -> dict[str, Any]:
    return next(f for f in frames if isinstance(f, dict) and "usage" in f)


@dataclass
class ServerProcess:
    """`python -m pocketchat` in a process of its own, as a user runs it."""

    process: subprocess.Popen[bytes]
    url: str

    def rss_bytes(self) -> int:
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def stop(self) -> str:
        """SIGTERM, wait, and the server's log."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            output, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        return output.decode(errors="replace")


def start_server_process(model: Path, port: int | None = None, **env: str) -> ServerProcess:
    """Start `python -m pocketchat` and wait until it is healthy; fail with its log if it dies."""
    port = port or free_port()
    environment = {**os.environ, "MODEL_PATH": str(model), "PORT": str(port),
                   "N_THREADS": "2", "LOG_LEVEL": "warning", **env}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "pocketchat"], env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{url}/api/health", timeout=1).status_code == 200:
                return ServerProcess(process, url)
        except requests.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(process.communicate()[0].decode(errors="replace"))


@pytest.fixture
def server_process() -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(model: Path, **env: str) -> ServerProcess:
        server = start_server_process(model, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
