"""`kill -9` while documents are being indexed: every finished document survives whole, the
interrupted one is never half-searchable, and it completes after the restart."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from bench.server import ServerProcess

pytestmark = pytest.mark.reliability

SMALL = "# Parking\n\nVisitors park in the east lot; the code for the gate is 2468.\n"
# About 400 passages: several seconds of embedding on 2 cores, time enough to kill the server.
LARGE = "\n\n".join(
    f"## Section {n}\n\nThe maintenance log for machine {n} records inspection number {n * 7} "
    f"and notes that the belt tension was adjusted, the filter replaced and the guard checked."
    for n in range(1, 1200)
)


def upload(url: str, store: str, name: str, text: str) -> str:
    file = requests.post(
        f"{url}/v1/files", files={"file": (name, text.encode())}, data={"purpose": "assistants"},
        timeout=30,
    ).json()  # fmt: skip
    requests.post(f"{url}/v1/vector_stores/{store}/files", json={"file_id": file["id"]}, timeout=30)
    return str(file["id"])


def status(url: str, store: str, file_id: str) -> dict[str, Any]:
    answer = requests.get(f"{url}/v1/vector_stores/{store}/files/{file_id}", timeout=30)
    return dict(answer.json())


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def search(url: str, store: str, query: str) -> list[str]:
    answer = requests.post(
        f"{url}/v1/vector_stores/{store}/search", json={"query": query}, timeout=30
    ).json()
    return [result["filename"] for result in answer["data"]]


def test_kill_9_during_indexing_loses_no_finished_document(
    server_process: Callable[..., ServerProcess], tiny_model: Path, embedding_model: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    data = str(tmp_path / "data")
    server = server_process(tiny_model, DATA_DIR=data)
    store = requests.post(f"{server.url}/v1/vector_stores", json={"name": "ops"}, timeout=30).json()
    small = upload(server.url, store["id"], "parking.md", SMALL)
    assert wait_for(lambda: status(server.url, store["id"], small)["status"] == "completed", 60)
    large = upload(server.url, store["id"], "maintenance.md", LARGE)
    assert wait_for(
        lambda: status(server.url, store["id"], large)["progress"]["chunks_done"] > 0, 60
    )
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)

    again = server_process(tiny_model, DATA_DIR=data)
    assert status(again.url, store["id"], small)["status"] == "completed"
    assert search(again.url, store["id"], "gate code for visitors")[:1] == ["parking.md"]
    interrupted = status(again.url, store["id"], large)
    if interrupted["status"] == "in_progress":
        # Never half-visible: none of its passages is searchable before it completes.
        assert "maintenance.md" not in search(again.url, store["id"], "belt tension machine 5")
    assert wait_for(lambda: status(again.url, store["id"], large)["status"] == "completed", 120)
    assert "maintenance.md" in search(again.url, store["id"], "belt tension machine 5")
