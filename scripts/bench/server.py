"""`python -m pocketchat` as a process of its own, as a user runs it: for the bench and the
backend's tests alike."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from bench.client import get, metric

REPO_ROOT = Path(__file__).resolve().parents[2]
POCKETCHAT = (sys.executable, "-m", "pocketchat")


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


class ServerFailed(RuntimeError):
    """The server process exited, or never answered healthy; the message ends with its log."""


class ServerProcess:
    """`python -m pocketchat` in a process of its own, as a user runs it, on a loopback port.

    `settings` are environment variables over this process's own, less API_KEY: a key in the
    developer's .env would lock the bench and the tests out. The server's output goes to
    `log_path`. `command` runs another server the same way (the bench's llama-server).
    """

    health_path = "/api/health"

    def __init__(
        self,
        settings: Mapping[str, str],
        log_path: Path,
        port: int | None = None,
        command: Sequence[str] = POCKETCHAT,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if k != "API_KEY"}
        env.update({"HOST": "127.0.0.1", "LOG_LEVEL": "warning", **settings})
        env["PORT"] = str(self.port)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.started_at = time.perf_counter()
        self.startup_seconds: float | None = None  # until healthy, once wait_healthy saw it
        # The child writes the log itself: nothing here has to drain a pipe or close a file.
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                list(command),
                env=env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._sampled_rss = 0
        self._sampling = peak_rss_of(os.getpid()) is None
        if self._sampling:
            threading.Thread(target=self._sample_rss, daemon=True).start()

    @classmethod
    def start(
        cls,
        settings: Mapping[str, str],
        log_path: Path,
        port: int | None = None,
        timeout: float = 120.0,
        command: Sequence[str] = POCKETCHAT,
    ) -> ServerProcess:
        """Start one and wait until it is healthy; stop it again if it never is."""
        server = cls(settings, log_path, port, command)
        try:
            server.wait_healthy(timeout)
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def address(self) -> str:
        """host:port, as a proxy's upstream names it."""
        return self.url.removeprefix("http://")

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
        """Seconds from process start until GET `health_path` answers 200."""
        deadline = self.started_at + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"the server exited early:\n{self.log_tail()}")
            try:
                if get(self.url, self.health_path, timeout=2)[0] == 200:
                    self.startup_seconds = time.perf_counter() - self.started_at
                    return self.startup_seconds
            except OSError:
                pass
            time.sleep(0.01)
        raise ServerFailed(f"the server was not healthy after {timeout} s:\n{self.log_tail()}")

    def get_json(self, path: str) -> Any:
        return json.loads(get(self.url, path)[1])

    def metric(self, name: str, **labels: str) -> float:
        return metric(self.url, name, **labels)

    def rss_bytes(self) -> int:
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def peak_rss(self) -> int:
        own = peak_rss_of(self.process.pid)
        children = [peak_rss_of(c.pid) or 0 for c in psutil.Process(self.process.pid).children()]
        return own + sum(children) if own is not None else self._sampled_rss

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> str:
        """SIGTERM, wait (SIGKILL after 20 s), and the server's log."""
        self._sampling = False
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
