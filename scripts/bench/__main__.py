"""`make bench`: pocketchat over HTTP/SSE against raw llama.cpp and the memory-bandwidth bound.

One run measures the machine's memory bandwidth, the product (two servers: PARALLEL=1, then
PARALLEL=8) and raw llama.cpp in a subprocess, with the same threads and context for both sides;
writes bench-results/<timestamp>.json, latest.json, latest.md and latest.png, and prints each
target as PASS/MISS. Exit code 0 even when targets are missed; non-zero when the bench failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from statistics import mean
from typing import Any

import psutil

from bench.bandwidth import measure
from bench.chart import render_chart
from bench.knowledge import knowledge_work, run_knowledge
from bench.peer import PeerPhase, ServerShape, batch_size
from bench.product import FOLLOW_UP, QUESTION, STORY, Prompts, Workload, many_slots, one_slot
from bench.raw import fit_words, vocabulary
from bench.report import MB, render_markdown, targets
from bench.scenarios import peer_work
from bench.server import REPO_ROOT
from bench.summary import merge_rounds, prefill_cases, summarize_all

SCRIPTS = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_ROOT / "models/test/qwen2.5-0.5b-shape-q4_k_m.gguf"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    default_model = Path(os.environ.get("MODEL_PATH") or DEFAULT_MODEL)
    parser.add_argument("--model", type=Path, default=default_model, help="a GGUF file")
    parser.add_argument(
        "--threads",
        type=int,
        default=psutil.cpu_count(logical=False) or 1,
        help="decode threads for both sides (default: physical cores)",
    )
    parser.add_argument("--n-ctx", type=int, default=4096, help="context per conversation")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3, quick 1)")
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke test")
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "bench-results")
    parser.add_argument(
        "--knowledge-only",
        action="store_true",
        help="only the knowledge base's measurements (writes knowledge.json and knowledge.md)",
    )
    parser.add_argument(
        "--peer",
        action=argparse.BooleanOptionalAction,
        help="pocketchat and llama-server side by side in each round (default: on, off --quick)",
    )
    return parser.parse_args(argv)


def workload(args: argparse.Namespace) -> Workload:
    with vocabulary(args.model) as vocab:
        prompts = Prompts(
            question=fit_words(vocab, QUESTION, 50),
            follow_up=fit_words(vocab, FOLLOW_UP, 16),
            story=fit_words(vocab, STORY, 32),
        )
    if args.quick:
        return Workload(args.reps or 1, 4, 8, 4, 64, (1, 2), prompts)
    return Workload(args.reps or 3, 16, 128, 64, 200, (1, 2, 4, 8), prompts)


def run_raw(args: argparse.Namespace, work: Workload, cases: list[list[int]]) -> dict[str, Any]:
    options = {
        "--model": args.model,
        "--threads": args.threads,
        "--n-ctx": args.n_ctx,
        "--n-batch": os.environ.get("N_BATCH", "512"),
        "--n-ubatch": os.environ.get("N_UBATCH", "512"),
        "--reps": work.reps,
        "--prefill-cases": json.dumps(cases),
        "--decode-tokens": work.decode_tokens,
        "--batch-tokens": work.batch_tokens,
        "--batch-sizes": ",".join(str(n) for n in work.concurrency),
    }
    command = [sys.executable, "-m", "bench.raw"]
    command += [str(part) for option in options.items() for part in option]
    python_path = os.pathsep.join(filter(None, [str(SCRIPTS), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "PYTHONPATH": python_path}
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"raw llama.cpp run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


class OtherLoad:
    """CPU the rest of the machine used during a phase, in cores: that phase's noise.

    System busy time minus this process and its waited-for children (the servers and the raw
    run), so it must be read when no child is running.
    """

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        system = psutil.cpu_times()
        idle = system.idle + getattr(system, "iowait", 0.0)
        # Linux counts guest time inside user time as well.
        guest = getattr(system, "guest", 0.0) + getattr(system, "guest_nice", 0.0)
        own = os.times()
        ours = own.user + own.system + own.children_user + own.children_system
        return time.perf_counter(), sum(system) - guest - idle, ours

    def cores(self) -> float:
        (wall0, busy0, ours0), (wall1, busy1, ours1) = self._start, self._sample()
        return round(max(0.0, (busy1 - busy0 - (ours1 - ours0)) / (wall1 - wall0)), 3)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {psutil.cpu_count(logical=False)} physical / {psutil.cpu_count()} logical "
        f"cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def measure_all(
    args: argparse.Namespace, work: Workload, log: Callable[[str], None]
) -> dict[str, Any]:
    """Bandwidth, then `reps` rounds of product and raw, each phase with the CPU the rest of the
    machine took meanwhile.

    Rounds interleave the two sides: this machine's speed drifts by a quarter over minutes, and
    measuring all of one side and then all of the other turned that drift into their ratio.
    """
    server_env = {
        "MODEL_PATH": str(args.model.resolve()),
        "N_THREADS": str(args.threads),
        "N_CTX": str(args.n_ctx),
        # The chat measurements are of chat alone, as before the knowledge base existed; the
        # knowledge part measures its own cost (knowledge.py). No embedder: no knowledge base.
        "EMBEDDING_MODEL_PATH": os.devnull,
        "DATA_DIR": str(args.out_dir / "data"),
    }
    found: dict[str, Any] = {"errors": []}
    loads: dict[str, list[float]] = {}

    def phase(name: str, measure_phase: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        load = OtherLoad()
        result = measure_phase()
        loads.setdefault(name, []).append(load.cores())
        return result

    log(f"memory bandwidth ({args.threads} threads)")
    found["bandwidth"] = phase(
        "bandwidth", lambda: measure((32 if args.quick else 256) << 20, args.threads, work.reps)
    )
    log_dir = args.out_dir / "logs"
    one_round = replace(work, reps=1)
    ones: list[dict[str, Any]] = []
    manys: list[dict[str, Any]] = []
    raws: list[dict[str, Any]] = []
    peer = peer_phase(args, work, server_env, log_dir)
    peer_rounds: list[dict[str, Any]] = []
    cases: dict[str, list[int]] | None = None
    parallel = max(work.concurrency)
    for number in range(1, work.reps + 1):
        try:
            log(f"round {number}/{work.reps}: pocketchat, PARALLEL=1 (TTFT, decode, disconnect)")
            ones.append(
                phase("pocketchat_parallel_1", partial(one_slot, server_env, one_round, log_dir))
            )
            log(f"round {number}/{work.reps}: pocketchat, PARALLEL={parallel} (concurrent streams)")
            manys.append(
                phase("pocketchat_parallel_n", partial(many_slots, server_env, one_round, log_dir))
            )
        except Exception as error:  # the report still shows what was measured
            found["errors"].append(f"pocketchat: {error}")
            print(f"bench: pocketchat measurement failed: {error}", file=sys.stderr)
        if cases is None:
            prefill = 64 if args.quick else 512
            fallback = {"prefill": [0, prefill], "cold": [0, 64], "followup": [80, 16]}
            cases = prefill_cases(ones[0], prefill) if ones else fallback
        log(f"round {number}/{work.reps}: raw llama.cpp (subprocess)")
        unique_cases = [list(case) for case in sorted({tuple(c) for c in cases.values()})]
        raws.append(phase("raw", partial(run_raw, args, one_round, unique_cases)))
        if peer is not None:
            log(f"round {number}/{work.reps}: pocketchat and llama-server side by side")
            peer_rounds.append(phase("peer", partial(peer.round, number)))
    assert cases is not None
    found |= {
        "one": merge_rounds(ones),
        "many": merge_rounds(manys),
        "raw": merge_rounds(raws),
        "cases": cases,
        "other_load_cores": {name: round(mean(v), 3) for name, v in loads.items()},
        "peer": peer.section(peer_rounds) if peer is not None else {"skipped": "--no-peer"},
    }
    return found


def peer_phase(
    args: argparse.Namespace, work: Workload, server_env: dict[str, str], log_dir: Path
) -> PeerPhase | None:
    """The llama-server comparison, unless --no-peer (the default of --quick)."""
    if not (args.peer if args.peer is not None else not args.quick):
        return None
    shape = ServerShape(
        args.model.resolve(),
        args.threads,
        args.n_ctx,
        batch_size("n_batch"),
        batch_size("n_ubatch"),
    )
    prompts = work.prompts
    sizes = peer_work(args.model, prompts.question, prompts.story, prompts.follow_up, args.quick)
    return PeerPhase(shape, server_env, log_dir, sizes)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.model.is_file():
        print(f"no model at {args.model} (make the test model or pass --model)", file=sys.stderr)
        return 2
    # SIGTERM unwinds like Ctrl-C, so the `with server` blocks stop the servers they started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    started = time.perf_counter()
    stamp = dt.datetime.now().astimezone()

    def log(message: str) -> None:
        elapsed = time.perf_counter() - started
        print(f"[{elapsed:6.1f} s] {message}", file=sys.stderr, flush=True)

    busy = {"cpu_percent": psutil.cpu_percent(interval=1.0), "load_1min": psutil.getloadavg()[0]}
    work = workload(args)
    knowledge_server_env = {
        "MODEL_PATH": str(args.model.resolve()),
        "N_THREADS": str(args.threads),
        "N_CTX": str(args.n_ctx),
    }
    knowledge_run = partial(
        run_knowledge,
        knowledge_server_env,
        args.threads,
        knowledge_work(args.quick, args.reps),
        args.out_dir / "logs",
        log,
        work.prompts.story,
    )
    if args.knowledge_only:
        knowledge = knowledge_run()
        knowledge["meta"] = {
            "timestamp": stamp.isoformat(timespec="seconds"),
            "machine": machine(),
            "busy_before": busy,
            "seconds": round(time.perf_counter() - started, 1),
        }
        args.out_dir.mkdir(parents=True, exist_ok=True)
        (args.out_dir / "knowledge.json").write_text(json.dumps(knowledge, indent=1) + "\n")
        (args.out_dir / "knowledge.md").write_text(knowledge["markdown"])
        print(knowledge["markdown"])
        for line in knowledge["target_lines"]:
            print(line)
        print(f"bench: {knowledge['meta']['seconds']} s; results in {args.out_dir}/knowledge.*")
        return 1 if knowledge["errors"] else 0
    found = measure_all(args, work, log)
    knowledge = knowledge_run()
    found["errors"] += knowledge["errors"] + found["peer"].get("errors", [])
    raw = found["raw"]
    summary = summarize_all(raw, found["one"], found["many"], found["bandwidth"], found["cases"])
    checks = targets(summary, args.n_ctx)
    result = {
        "meta": {
            "timestamp": stamp.isoformat(timespec="seconds"),
            "machine": machine(),
            "model": f"{args.model.name} ({raw['model']['description']}, "
            f"{raw['model']['file_bytes'] / MB:.0f} MB)",
            "settings": f"N_THREADS={args.threads}, N_CTX={args.n_ctx}, "
            f"N_BATCH={os.environ.get('N_BATCH', '512')}, "
            f"PARALLEL=1 and {max(work.concurrency)}, "
            f"raw batched kv_unified={raw['batched_kv_unified']}, "
            f"llama-cpp-python {raw['llama_cpp_python']}",
            "busy_before": busy,
            "other_load_cores": found["other_load_cores"],
            "prompts": work.prompts.__dict__,
            "reps": work.reps,
            "quick": args.quick,
            "seconds": round(time.perf_counter() - started, 1),
            "errors": found["errors"],
        },
        "summary": summary,
        "targets": [check.as_dict() for check in checks],
        "bandwidth_bytes_per_s": found["bandwidth"],
        "raw": raw,
        "product": {"one_slot": found["one"], "many_slots": found["many"]},
        "knowledge": knowledge,
        "peer": found["peer"],
    }
    write_outputs(result, args.out_dir, stamp)
    print(render_markdown(result))
    peer_lines = found["peer"].get("target_lines", [])
    for line in [check.line() for check in checks] + knowledge["target_lines"] + peer_lines:
        print(line)
    print(f"bench: {result['meta']['seconds']} s; results in {args.out_dir}/latest.*")
    return 1 if found["errors"] else 0


def write_outputs(result: dict[str, Any], out_dir: Path, stamp: dt.datetime) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    dated = out_dir / f"{stamp.strftime('%Y%m%dT%H%M%S')}.json"
    dated.write_text(json.dumps(result, indent=1, default=str) + "\n")
    shutil.copyfile(dated, out_dir / "latest.json")
    (out_dir / "latest.md").write_text(render_markdown(result))
    cpu = result["meta"]["machine"].split(" cores")[0]
    render_chart(
        result["summary"], out_dir / "latest.png", f"{result['meta']['model']}\n{cpu} cores"
    )


if __name__ == "__main__":
    sys.exit(main())
