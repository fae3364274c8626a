"""`python -m pocketchat` as a user runs it: bad settings, SIGTERM mid-stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import chat_body, free_port, sse_events


def start(model: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    environment = {**os.environ, "MODEL_PATH": str(model), "PORT": str(port), **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "pocketchat"], env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/api/health", timeout=1).status_code == 200:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(process.communicate()[0].decode())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"N_CTX": "lots"}, "N_CTX"),
        ({"PORT": "70000"}, "PORT"),
        ({"HOST": "0.0.0.0"}, "API_KEY"),
        ({"MODEL": "gpt-9"}, "unknown preset"),
        ({"N_UBATCH": "1024", "N_BATCH": "512"}, "N_UBATCH"),
    ],
)
def test_invalid_settings_stop_with_a_clear_message(
    tiny_model: Path, env: dict[str, str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pocketchat"],
        env={**os.environ, "MODEL_PATH": str(tiny_model), **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_ends_streams_with_a_final_event_and_exits(tiny_model: Path) -> None:
    process, url = start(tiny_model, N_CTX="16384")
    try:
        with requests.post(
            f"{url}/v1/chat/completions", json={**chat_body(max_tokens=15000), "stream": True},
            stream=True, timeout=30,
        ) as response:  # fmt: skip
            frames = sse_events(response)
            next(frames)
            process.send_signal(signal.SIGTERM)
            rest = list(frames)
        assert rest[-1] == "[DONE]"
        assert rest[-2]["error"]["code"] == "server_shutdown"
        assert process.wait(timeout=15) == 0
    finally:
        process.kill()
        process.communicate()
