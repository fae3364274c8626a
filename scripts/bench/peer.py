"""The bench's peer: llama.cpp's own `llama-server` (built by scripts/build_llama_server.py) and
pocketchat, each started the same way: model, threads, slots, context per slot, batch sizes.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from build_llama_server import build_plan, locate
from pocketchat.settings import Settings

from bench.peer_report import peer_targets, prompt_sizes, render_peer, summarize_peer
from bench.scenarios import PeerWork, Restart, four_slots, one_slot, two_slots
from bench.server import ServerProcess, free_port
from bench.summary import merge_rounds


def find_llama_server(environ: Mapping[str, str] = os.environ) -> tuple[Path | None, str]:
    """The llama-server built for this interpreter's llama-cpp-python and CPU, or why none is."""
    _, _, entry = build_plan(environ)
    return locate(entry)


def batch_size(name: str, environ: Mapping[str, str] = os.environ) -> int:
    """N_BATCH or N_UBATCH as the product takes it: the environment's, else its default."""
    return int(environ.get(name.upper()) or Settings.model_fields[name].default)


@dataclass(frozen=True)
class ServerShape:
    """What both sides are started with; `n_ctx` is each slot's context."""

    model: Path
    threads: int
    n_ctx: int
    n_batch: int
    n_ubatch: int


def llama_server_command(binary: Path, shape: ServerShape, slots: int, port: int) -> list[str]:
    """llama-server with `slots` slots of `shape.n_ctx` each (-c is split between the slots;
    an explicit -np keeps a KV stream per slot, as the product has). --cache-ram, its host-memory
    prompt cache, stays at its default: that is llama-server as its users run it."""
    return [
        str(binary),
        *("--model", str(shape.model)),
        *("--threads", str(shape.threads)),
        *("--threads-batch", str(shape.threads)),
        *("--parallel", str(slots)),
        *("--ctx-size", str(slots * shape.n_ctx)),
        *("--batch-size", str(shape.n_batch)),
        *("--ubatch-size", str(shape.n_ubatch)),
        *("--host", "127.0.0.1"),
        *("--port", str(port)),
    ]


class LlamaServerProcess(ServerProcess):
    health_path = "/health"


def start_llama_server(
    binary: Path, shape: ServerShape, slots: int, log_path: Path
) -> ServerProcess:
    port = free_port()
    command = llama_server_command(binary, shape, slots, port)
    return LlamaServerProcess.start({}, log_path, port, command=command)


def start_product(
    base: Mapping[str, str], slots: int, log_path: Path, data_dir: Path
) -> ServerProcess:
    """pocketchat with `slots` slots; `base` carries MODEL_PATH, N_THREADS, N_CTX."""
    settings = {**base, "PARALLEL": str(slots), "DATA_DIR": str(data_dir)}
    return ServerProcess.start(settings, log_path)


SIDES = ("product", "llama_server")


def peer_round(
    binary: Path | None,
    shape: ServerShape,
    product_env: Mapping[str, str],
    work: PeerWork,
    log_dir: Path,
    llama_server_first: bool,
) -> dict[str, Any]:
    """One round: for 4, 2 and 1 slots, each side on a fresh server, one after the other (the
    order alternates between rounds, so the machine's drift does not always favour one side).
    A scenario that fails is left out of that round and said in `errors`."""
    figures: dict[str, dict[str, Any]] = {side: {"tokens": {}} for side in SIDES}
    errors: list[str] = []
    order = SIDES[::-1] if llama_server_first else SIDES
    for slots in (4, 2, 1):
        for side in order:
            if side == "llama_server" and binary is None:
                continue
            log_path = log_dir / f"peer-{side}-{slots}-slots.log"
            try:
                with tempfile.TemporaryDirectory(prefix="pocketchat-peer-") as data_dir:
                    if side == "product":
                        found = _product_side(product_env, slots, log_path, Path(data_dir), work)
                    else:
                        assert binary is not None
                        with start_llama_server(binary, shape, slots, log_path) as server:
                            found = SCENARIOS[slots](server, work, None)
            except Exception as error:  # the rest of the round still runs
                errors.append(f"{side}, {slots} slots: {error}")
                continue
            figures[side]["tokens"][f"{slots}_slots"] = found.pop("tokens")
            figures[side] |= found
    return {"rounds": [figures], "errors": errors}


def _product_side(
    env: Mapping[str, str], slots: int, log_path: Path, data_dir: Path, work: PeerWork
) -> dict[str, Any]:
    servers = [start_product(env, slots, log_path, data_dir)]

    def restart() -> ServerProcess:
        """SIGTERM, then the same settings and DATA_DIR: what survives is what is on disk."""
        servers[-1].stop()
        servers.append(start_product(env, slots, log_path.with_suffix(".restart.log"), data_dir))
        return servers[-1]

    try:
        return SCENARIOS[slots](servers[0], work, restart)
    finally:
        for server in servers:
            server.stop()


SCENARIOS: dict[int, Callable[[ServerProcess, PeerWork, Restart | None], dict[str, Any]]] = {
    4: lambda server, work, _: four_slots(server, work),
    2: two_slots,
    1: lambda server, work, _: one_slot(server, work),
}


class PeerPhase:
    """The llama-server comparison of one bench run: `round()` in each bench round, then
    `section()` for the report (llama-server's columns say why when it is not built)."""

    def __init__(
        self, shape: ServerShape, product_env: Mapping[str, str], log_dir: Path, work: PeerWork
    ) -> None:
        self.binary, self.reason = find_llama_server()
        self.shape, self.product_env, self.log_dir, self.work = shape, product_env, log_dir, work

    def round(self, number: int) -> dict[str, Any]:
        first = number % 2 == 0
        return peer_round(self.binary, self.shape, self.product_env, self.work, self.log_dir, first)

    def described(self) -> str:
        if self.binary is None:
            return f"not built: {self.reason}"
        shown = replace(self.shape, model=Path(self.shape.model.name))
        command = llama_server_command(Path(self.binary.name), shown, 4, 0)[:-4]
        return f"`{shlex.join(command)}` (build {self.binary.parent.name})"

    def section(self, rounds: list[dict[str, Any]]) -> dict[str, Any]:
        merged = merge_rounds(rounds)
        measured = merged.get("rounds", [])
        summary = summarize_peer(measured)
        checks = peer_targets(summary)
        return {
            "llama_server": self.described(),
            "errors": merged.get("errors", []),
            "rounds": measured,
            "summary": summary,
            "targets": [check.as_dict() for check in checks],
            "target_lines": [check.line() for check in checks],
            "markdown": render_peer(summary, checks, prompt_sizes(measured), self.described()),
        }
