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
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from bench_bandwidth import decode_ceiling_tps, measure
from bench_chart import render_chart
from bench_product import Workload, many_slots, one_slot
from bench_report import (
    MB,
    kv_bytes_per_token,
    render_markdown,
    summarize,
    targets,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_ROOT / "models/test/qwen2.5-0.5b-shape-q4_k_m.gguf"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", type=Path, default=Path(os.environ.get("MODEL_PATH") or DEFAULT_MODEL)
    )
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
    return parser.parse_args(argv)


def workload(args: argparse.Namespace) -> Workload:
    if args.quick:
        return Workload(args.reps or 1, 4, 8, 4, 64, (1, 2))
    return Workload(args.reps or 3, 16, 128, 64, 256, (1, 2, 4, 8))


def run_raw(args: argparse.Namespace, work: Workload, cases: list[list[int]]) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).with_name("bench_raw.py")),
        "--model",
        str(args.model),
        "--threads",
        str(args.threads),
        "--n-ctx",
        str(args.n_ctx),
        "--n-batch",
        os.environ.get("N_BATCH", "512"),
        "--n-ubatch",
        os.environ.get("N_UBATCH", "512"),
        "--reps",
        str(work.reps),
        "--prefill-cases",
        json.dumps(cases),
        "--decode-tokens",
        str(work.decode_tokens),
        "--batch-tokens",
        str(work.batch_tokens),
        "--batch-sizes",
        ",".join(str(n) for n in work.concurrency),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"raw llama.cpp run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def prefill_cases(one: dict[str, Any], prefill_tokens: int) -> dict[str, list[int]]:
    """[cached, new] token counts the raw side must prefill to match the product's requests.

    Follow-up ideal: everything up to the cold reply's last decoded token is already cached
    (the last sampled token was never decoded), so only the rest is new.
    """

    def mid(values: list[int]) -> int:
        return sorted(values)[len(values) // 2]

    cold_prompt = mid([r["usage"]["prompt_tokens"] for r in one["cold"]])
    cold_reply = mid([r["usage"]["completion_tokens"] for r in one["cold"]])
    follow_prompt = mid([r["usage"]["prompt_tokens"] for r in one["followup"]])
    new = max(1, follow_prompt - cold_prompt - cold_reply + 1)
    return {
        "prefill": [0, prefill_tokens],
        "cold": [0, cold_prompt],
        "followup": [follow_prompt - new, new],
    }


def summarize_all(
    raw: dict[str, Any],
    one: dict[str, Any],
    many: dict[str, Any],
    bandwidth: dict[str, float],
    cases: dict[str, list[int]],
) -> dict[str, Any]:
    model = raw["model"]
    prefill = {(p["past"], p["new"]): p["seconds"] for p in raw["prefill"]}
    bytes_per_token = model["weights_bytes"]
    best_bandwidth = max(bandwidth.values())
    s: dict[str, Any] = {
        "model_mb": bytes_per_token / MB,
        "bandwidth_gbs": best_bandwidth / 1e9,
        "ceiling_tps": decode_ceiling_tps(best_bandwidth, bytes_per_token),
        "kv_bytes_per_token": kv_bytes_per_token(
            model["n_layer"], model["n_head_kv"], model["head_dim"]
        ),
        "parallel": many.get("parallel"),
        "prefill_tokens": cases["prefill"][1],
        "cold_prompt_tokens": cases["cold"][1],
        "followup_past_tokens": cases["followup"][0],
        "followup_new_tokens": cases["followup"][1],
        "raw_load_s": summarize(raw["load_s"]),
        "raw_prefill_tps": summarize(
            cases["prefill"][1] / t for t in prefill[tuple(cases["prefill"])]
        ),
        "raw_cold_prefill_ms": summarize(t * 1000 for t in prefill[tuple(cases["cold"])]),
        "raw_followup_prefill_ms": summarize(t * 1000 for t in prefill[tuple(cases["followup"])]),
        "raw_decode_tps": summarize(raw["decode_tps"]),
        "raw_batched_tps": {n: summarize(v) for n, v in raw["batched_tps"].items()},
        "raw_peak_rss_mb": summarize([raw["peak_rss_single_bytes"] / MB]),
        "raw_peak_rss_all_mb": summarize([raw["peak_rss_bytes"] / MB]),
    }
    if one:
        s |= {
            "startup_s": summarize(one["startup_s"]),
            "cold_ttft_ms": summarize(r["ttft_ms"] for r in one["cold"]),
            "followup_ttft_ms": summarize(r["ttft_ms"] for r in one["followup"]),
            "followup_processed_tokens": summarize(
                r["timings"].get("prompt_tokens_processed") for r in one["followup"]
            ),
            "decode_tps": summarize(r["decode_tps"] for r in one["decode"]),
            "decode_server_tps": summarize(
                r["timings"].get("decode_tokens_per_second") for r in one["decode"]
            ),
            "decode_default_sampling_tps": summarize(
                r["decode_tps"] for r in one["decode_default_sampling"]
            ),
            "disconnect_ms": summarize(d["ms"] for d in one["disconnect"]),
            "disconnect_queued_ms": summarize(d["next_queued_ms"] for d in one["disconnect"]),
            "rss_p1_mb": summarize([one["peak_rss_bytes"] / MB]),
        }
    if many:
        levels = many["levels"]
        s |= {
            "aggregate_tps": {
                n: summarize(r["aggregate_tps"] for r in runs) for n, runs in levels.items()
            },
            "min_stream_tps": {
                n: summarize(r["min_stream_tps"] for r in runs) for n, runs in levels.items()
            },
            "rss_p8_mb": summarize([many["peak_rss_bytes"] / MB]),
        }
    return s


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


def log(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = workload(args)
    if not args.model.is_file():
        print(f"no model at {args.model} (make the test model or pass --model)", file=sys.stderr)
        return 2
    # SIGTERM unwinds like Ctrl-C, so the `with Server` blocks stop the servers they started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    stamp = dt.datetime.now().astimezone()
    # Other work on the machine skews everything (llama.cpp's threads spin on barriers): say so.
    busy = {"cpu_percent": psutil.cpu_percent(interval=1.0), "load_1min": psutil.getloadavg()[0]}
    server_env = {
        "MODEL_PATH": str(args.model.resolve()),
        "N_THREADS": str(args.threads),
        "N_CTX": str(args.n_ctx),
    }
    errors: list[str] = []
    log(f"memory bandwidth ({args.threads} threads)", started)
    bandwidth = measure((32 if args.quick else 256) << 20, args.threads, work.reps)
    one: dict[str, Any] = {}
    many: dict[str, Any] = {}
    log_dir = args.out_dir / "logs"
    try:
        log("pocketchat, PARALLEL=1: start-up, TTFT, decode, disconnect, RSS", started)
        one = one_slot(server_env, work, log_dir)
        log(f"pocketchat, PARALLEL={max(work.concurrency)}: concurrent streams, RSS", started)
        many = many_slots(server_env, work, log_dir)
    except Exception as error:  # the report still shows what was measured
        errors.append(f"product: {error}")
        print(f"bench: product measurement failed: {error}", file=sys.stderr)
    cases = (
        prefill_cases(one, 64 if args.quick else 512)
        if one
        else {"prefill": [0, 64 if args.quick else 512], "cold": [0, 64], "followup": [80, 16]}
    )
    log("raw llama.cpp (subprocess)", started)
    unique_cases = sorted({tuple(case) for case in cases.values()})
    raw = run_raw(args, work, [list(case) for case in unique_cases])
    summary = summarize_all(raw, one, many, bandwidth, cases)
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
            "reps": work.reps,
            "quick": args.quick,
            "seconds": round(time.perf_counter() - started, 1),
            "errors": errors,
        },
        "summary": summary,
        "targets": [check.as_dict() for check in checks],
        "bandwidth_bytes_per_s": bandwidth,
        "raw": raw,
        "product": {"one_slot": one, "many_slots": many},
    }
    write_outputs(result, args.out_dir, stamp)
    print(render_markdown(result))
    for check in checks:
        print(check.line())
    print(f"bench: {result['meta']['seconds']} s; results in {args.out_dir}/latest.*")
    return 1 if errors else 0


def write_outputs(result: dict[str, Any], out_dir: Path, stamp: dt.datetime) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    dated = out_dir / f"{stamp.strftime('%Y%m%dT%H%M%S')}.json"
    dated.write_text(json.dumps(result, indent=1, default=str) + "\n")
    shutil.copyfile(dated, out_dir / "latest.json")
    (out_dir / "latest.md").write_text(render_markdown(result))
    title = f"{result['meta']['model']}\n{result['meta']['machine'].split(' cores')[0]} cores"
    render_chart(result["summary"], out_dir / "latest.png", title)


if __name__ == "__main__":
    sys.exit(main())
