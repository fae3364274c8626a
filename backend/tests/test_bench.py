"""scripts/bench: its pure parts (statistics, targets, report, chart, bandwidth bound), its SSE
parser and one real quick run against the tiny model. The speeds themselves are never asserted
here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bench.bandwidth import decode_ceiling_tps, measure
from bench.chart import render_chart
from bench.client import FrameReader, StreamResult, parse_frame
from bench.knowledge import percentile
from bench.peer import ServerShape, llama_server_command
from bench.peer_report import peer_targets, render_peer, summarize_peer
from bench.product import aggregate
from bench.recall import DATA, Question, first_relevant_rank, load_questions, scores
from bench.report import (
    Target,
    cell,
    kv_bytes_per_token,
    render_markdown,
    summarize,
    targets,
)
from bench.scenarios import burst_figures, longest_gap_ms
from bench.summary import (
    ideal_followup_tokens,
    json_schema_decode,
    merge_rounds,
    prefill_cases,
)
from build_llama_server import (
    cache_entry,
    cache_root,
    cpu_cmake_args,
    failure_file,
    locate,
    server_cmake_args,
)
from pocketchat.settings import REPO_ROOT


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([3.0, 1.0, 2.0], {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}),
        ([4.0, 1.0, 2.0, 3.0], {"median": 2.5, "min": 1.0, "max": 4.0, "n": 4}),
        ([None, 5.0], {"median": 5.0, "min": 5.0, "max": 5.0, "n": 1}),
        ([], None),
        ([None], None),
    ],
)
def test_summarize_reports_median_and_spread_of_what_was_measured(values, expected):
    assert summarize(values) == expected


@pytest.mark.parametrize(
    ("target", "passed", "margin"),
    [
        (Target("ratio", 0.98, 0.97, at_least=True), True, 0.01),
        (Target("ratio", 0.90, 0.97, at_least=True), False, -0.07),
        (Target("latency", 80.0, 100.0, at_least=False, unit=" ms"), True, 20.0),
        (Target("latency", 120.0, 100.0, at_least=False, unit=" ms"), False, -20.0),
        (Target("latency", None, 100.0, at_least=False), False, None),
    ],
)
def test_target_verdict_and_margin(target, passed, margin):
    assert (target.passed, target.margin) == (passed, pytest.approx(margin) if margin else None)


@pytest.mark.parametrize(
    ("target", "start"),
    [
        (
            Target("latency", 120.0, 100.0, at_least=False, unit=" ms"),
            "MISS  latency: 120 ms <= 100 ms (missed by 20.0 ms, -20%)",
        ),
        (Target("ratio", 0.98, 0.97, at_least=True), "PASS  ratio: 0.98 >= 0.97 (margin 0.01"),
        (Target("latency", None, 100.0, at_least=False), "N/A   latency: not measured"),
    ],
)
def test_target_line_says_pass_or_miss_and_by_how_much(target, start):
    assert target.line().startswith(start)


def test_kv_bytes_per_token_of_qwen25_05b():
    # 24 layers, 2 KV heads of 64: 12 KiB per token in f16, 48 MiB for a 4096-token slot.
    assert kv_bytes_per_token(n_layer=24, n_head_kv=2, head_dim=64) == 12288


def test_decode_ceiling_is_bandwidth_over_bytes_per_token():
    assert decode_ceiling_tps(20e9, 400e6) == pytest.approx(50.0)


def test_bandwidth_measures_copy_and_triad_per_thread_count():
    results = measure(8 << 20, threads=2, reps=1)
    assert set(results) == {"copy_1t", "copy_2t", "triad_1t", "triad_2t"}
    assert all(value > 0 for value in results.values())


@pytest.mark.parametrize(
    ("stats", "text"),
    [
        ({"median": 64.0, "min": 60.0, "max": 66.5, "n": 3}, "64.0 (60.0–66.5)"),
        ({"median": 25.0, "min": 25.0, "max": 25.0, "n": 3}, "25.0"),
        ({"median": 0.512, "min": 0.5, "max": 0.6, "n": 1}, "0.512"),
        (None, "—"),
    ],
)
def test_cell_shows_median_and_range(stats, text):
    assert cell(stats) == text


def _stats(value: float, spread: float = 0.0) -> dict[str, float]:
    return {"median": value, "min": value - spread, "max": value + spread, "n": 3}


def synthetic_summary() -> dict[str, Any]:
    return {
        "model_mb": 395.0,
        "bandwidth_gbs": 20.0,
        "ceiling_tps": 50.6,
        "parallel": 8,
        "kv_bytes_per_token": 12288,
        "prefill_tokens": 512,
        "cold_prompt_tokens": 60,
        "followup_past_tokens": 80,
        "followup_new_tokens": 20,
        "followup_cached_tokens": _stats(60.0),
        "followup_ideal_new_tokens": 20,
        "raw_load_s": _stats(0.3),
        "raw_prefill_tps": _stats(150.0, 5),
        "raw_cold_prefill_ms": _stats(400.0),
        "raw_followup_prefill_ms": _stats(150.0),
        "raw_decode_tps": _stats(25.0, 1),
        "decode_tps": _stats(24.5, 0.5),
        "cold_ttft_ms": _stats(420.0),
        "followup_ttft_ms": _stats(200.0),
        "together_tps": {
            "1": _stats(25.0),
            "2": _stats(40.0),
            "4": _stats(60.0),
            "8": _stats(75.0),
        },
        "raw_batched_tps": {
            "1": _stats(25.0),
            "2": _stats(41.0),
            "4": _stats(64.0),
            "8": _stats(79.0),
        },
        "min_stream_tps": {"1": _stats(25.0), "8": _stats(9.0)},
        "rss_p1_mb": _stats(600.0),
        "rss_p8_mb": _stats(950.0),
        "startup_s": _stats(2.0),
        "disconnect_ms": _stats(150.0),
    }


def test_targets_pass_and_miss_from_the_medians():
    missed = [t.name for t in targets(synthetic_summary(), n_ctx=4096) if not t.passed]
    assert missed == [
        "follow-up TTFT vs raw prefill of the same new tokens + 30 ms",  # 200 > 150 + 30
        "disconnect to next request's generation",  # 150 > 100
    ]


def test_extra_slots_are_compared_with_their_kv_cache():
    slots = next(t for t in targets(synthetic_summary(), n_ctx=4096) if "extra slots" in t.name)
    # 950 - 600 = 350 MB against 7 * 4096 * 12288 bytes = 352.3 MB.
    assert (slots.value, slots.limit, slots.passed) == (350.0, 7 * 4096 * 12288 / 1e6, True)


def test_markdown_table_has_raw_product_and_ratio_columns():
    result = {
        "meta": {
            "machine": "test CPU",
            "model": "m.gguf",
            "settings": "N_THREADS=2",
            "timestamp": "2026-01-01T00:00:00",
            "reps": 3,
        },
        "summary": synthetic_summary(),
        "targets": [t.as_dict() for t in targets(synthetic_summary(), n_ctx=4096)],
    }
    markdown = render_markdown(result)
    assert (
        "| aggregate decode, 4 streams decoding together, tokens/s | 64.0 | 60.0 | 0.938 |"
        in markdown
    )


def test_decode_with_a_json_schema_is_summarized_and_reported():
    records = [{"decode_tps": tps} for tps in (12.0, 10.0, 14.0)]
    rates = json_schema_decode({"decode_json_schema": records})
    result = {
        "meta": {"machine": "test CPU", "model": "m.gguf", "settings": "N_THREADS=2",
                 "timestamp": "2026-01-01T00:00:00", "reps": 3},
        "summary": {**synthetic_summary(), "decode_json_schema_tps": rates},
        "targets": [],
    }  # fmt: skip
    row = (
        "| decode, 1 stream, constrained by a JSON schema (grammar), tokens/s | — "
        "| 12.0 (10.0–14.0) |"
    )
    assert row in render_markdown(result)


def test_chart_is_a_png(tmp_path: Path):
    path = tmp_path / "chart.png"
    render_chart(synthetic_summary(), path, "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_prefill_cases_follow_what_the_product_really_prefilled():
    def reply(prompt: int, cached: int, completion: int) -> dict[str, Any]:
        details = {"cached_tokens": cached}
        usage = {"prompt_tokens": prompt, "completion_tokens": completion}
        return {"usage": {**usage, "prompt_tokens_details": details}}

    one_slot = {"cold": [reply(60, 3, 16)] * 3, "followup": [reply(96, 60, 16)] * 3}
    cases = prefill_cases(one_slot, 512)
    # Ideally only 96 - 60 - 16 + 1 tokens are new: the reply's last token was never decoded.
    assert (cases, ideal_followup_tokens(one_slot)) == (
        {"prefill": [0, 512], "cold": [0, 60], "followup": [60, 36]},
        21,
    )


def test_rounds_merge_into_one_record_of_every_repetition():
    def raw_round(seconds: float, rss: int) -> dict[str, Any]:
        return {
            "model": {"n_layer": 24},
            "load_s": [seconds],
            "prefill": [{"past": 0, "new": 60, "seconds": [seconds]}],
            "batched_tps": {"1": [seconds * 10], "4": [seconds * 20]},
            "peak_rss_bytes": rss,
        }

    assert merge_rounds([raw_round(1.0, 500), raw_round(2.0, 700), raw_round(3.0, 600)]) == {
        "model": {"n_layer": 24},
        "load_s": [1.0, 2.0, 3.0],
        "prefill": [{"past": 0, "new": 60, "seconds": [1.0, 2.0, 3.0]}],
        "batched_tps": {"1": [10.0, 20.0, 30.0], "4": [20.0, 40.0, 60.0]},
        "peak_rss_bytes": 700,
    }


def test_aggregate_rates_count_the_window_all_decode_together_and_the_whole_run():
    def stream(delta_times: list[float]) -> StreamResult:
        return StreamResult(
            sent_at=0.0,
            first_delta_at=delta_times[0],
            last_delta_at=delta_times[-1],
            delta_times=delta_times,
            usage={"completion_tokens": len(delta_times)},
        )

    # One stream decodes alone from t=1 (the other's prompt is still being read); from t=3 on
    # both decode, 10 tokens a second each, until the first one ends at t=5.
    early = stream([1.0 + i / 10 for i in range(41)])  # 1.0 .. 5.0
    late = stream([3.0 + i / 10 for i in range(41)])  # 3.0 .. 7.0
    result = aggregate([early, late])
    assert (result["together_tps"], result["aggregate_tps"], result["min_stream_tps"]) == (
        pytest.approx(20.0),
        pytest.approx(80 / 6),
        pytest.approx(10.0),
    )


@pytest.mark.parametrize(
    ("line", "frame"),
    [
        (b'data: {"id": "x"}\n', {"id": "x"}),
        ('data: {"id": "x"}', {"id": "x"}),
        (b"data: [DONE]\r\n", "[DONE]"),
        (b": heartbeat\n", None),
        (b"\n", None),
    ],
)
def test_sse_lines_parse_to_frames(line: bytes | str, frame: Any) -> None:
    assert parse_frame(line) == frame


def test_frames_split_across_reads_come_out_whole() -> None:
    reader = FrameReader()
    pieces = [b'data: {"a"', b": 1}\n\n: heart", b"beat\n\ndata: [DONE]\n", b"\n"]
    assert [reader.feed(piece) for piece in pieces] == [[], [{"a": 1}], ["[DONE]"], []]


def test_quick_run_against_the_tiny_model_writes_every_output(
    tiny_model: Path, embedding_model: Path, tmp_path: Path
):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--model",
            str(tiny_model),
            "--out-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "scripts")},
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    latest = json.loads((tmp_path / "latest.json").read_text())
    verdicts = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "MISS"))]
    assert {
        "targets": len(latest["targets"]),
        "verdicts": len(verdicts),
        "png": (tmp_path / "latest.png").read_bytes()[:4],
        "table": "| measurement | raw llama.cpp | pocketchat |"
        in (tmp_path / "latest.md").read_text(),
        "knowledge": "| knowledge target | result |" in (tmp_path / "latest.md").read_text(),
    } == {"targets": 11, "verdicts": 13, "png": b"\x89PNG", "table": True, "knowledge": True}


def test_knowledge_only_quick_run(tiny_model: Path, embedding_model: Path, tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--knowledge-only", "--quick", "--model", str(tiny_model),
         "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "scripts")},
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "knowledge.json").read_text())
    assert [t["verdict"] != "N/A" for t in result["targets"]] == [True] * 4


@pytest.mark.parametrize(
    ("hits", "rank"),
    [
        ([("a.md", "x"), ("hr.md", "Up to 5 unused  days\ncan be carried")], 2),
        ([("other.md", "Up to 5 unused days can be carried")], None),  # the wrong file
        ([("hr.md", "差旅（标准）")], None),
        ([("hr.md", "出差住宿(一类城市)")], 1),  # NFKC, as the extractor normalizes
    ],
)
def test_recall_counts_a_hit_from_the_labelled_file_with_the_needle(hits, rank):
    needle = "一类城市）" if "出差" in hits[0][1] else "5 unused days can be carried"
    assert first_relevant_rank(Question("q", "hr.md", needle), hits) == rank


def test_recall_scores():
    assert scores([1, 3, None, 2]) == {
        "recall@1": 0.25, "recall@3": 0.75, "recall@5": 0.75,
        "mrr": pytest.approx((1 + 1 / 3 + 1 / 2) / 4), "n": 4,
    }  # fmt: skip


def test_every_recall_question_names_a_document_that_holds_its_needle():
    for question in load_questions():
        assert question.needle in (DATA / "docs" / question.file).read_text(), question


def test_percentile_is_the_nearest_rank():
    assert (percentile(range(101), 0.5), percentile(range(101), 0.95)) == (50, 95)


ZEN4_CPUINFO = (
    "processor\t: 0\nflags\t\t: sse4_2 avx f16c fma bmi2 avx2 avx512f avx512dq avx512cd avx512bw "
    "avx512vl avx512_vnni avx512_bf16 amx_tile amx_int8\n"
)


def test_llama_server_is_built_with_the_packages_cpu_flags_and_nothing_from_the_network():
    args = server_cmake_args(cpu_cmake_args({}, ZEN4_CPUINFO, "x86_64"))
    flags = dict(arg.removeprefix("-D").split("=", 1) for arg in args)
    wanted = (
        "GGML_AVX512", "GGML_AMX_TILE", "GGML_AVX512_BF16", "LLAMA_BUILD_SERVER", "LLAMA_CURL",
        "LLAMA_OPENSSL", "LLAMA_USE_PREBUILT_UI", "BUILD_SHARED_LIBS",
    )  # fmt: skip
    assert (len(flags), {name: flags[name] for name in wanted}) == (
        len(args),  # no flag given twice (the package's LLAMA_BUILD_SERVER=OFF is dropped)
        {"GGML_AVX512": "ON", "GGML_AMX_TILE": "OFF", "GGML_AVX512_BF16": "OFF",
         "LLAMA_BUILD_SERVER": "ON", "LLAMA_CURL": "OFF", "LLAMA_OPENSSL": "OFF",
         "LLAMA_USE_PREBUILT_UI": "OFF", "BUILD_SHARED_LIBS": "OFF"},
    )  # fmt: skip


def test_llama_server_cache_has_one_entry_per_version_and_flags(tmp_path: Path):
    entry = cache_entry(tmp_path, "0.3.36", ["-DGGML_AVX2=ON"])
    assert {
        "default root": cache_root({}),
        "under the root": entry.parent,
        "named by version": entry.name.startswith("0.3.36-"),
        "same flags, same entry": cache_entry(tmp_path, "0.3.36", ["-DGGML_AVX2=ON"]) == entry,
        "other flags": cache_entry(tmp_path, "0.3.36", ["-DGGML_AVX2=OFF"]) != entry,
        "other version": cache_entry(tmp_path, "0.3.37", ["-DGGML_AVX2=ON"]) != entry,
    } == {
        "default root": Path.home() / ".cache" / "pocketchat" / "llama-server",
        "under the root": tmp_path,
        "named by version": True,
        "same flags, same entry": True,
        "other flags": True,
        "other version": True,
    }


def test_a_failed_llama_server_build_leaves_its_reason_for_the_bench(tmp_path: Path):
    entry = tmp_path / "0.3.36-0123456789ab"
    failure_file(entry).write_text("compiling llama-server failed (exit code 2)\n")
    assert locate(entry) == (None, "compiling llama-server failed (exit code 2)")


def test_llama_server_gets_the_products_slots_context_per_slot_and_batches():
    shape = ServerShape(Path("m.gguf"), threads=2, n_ctx=4096, n_batch=512, n_ubatch=256)
    command = llama_server_command(Path("/cache/llama-server"), shape, slots=4, port=8080)
    assert dict(zip(command[1::2], command[2::2], strict=True)) == {
        "--model": "m.gguf", "--threads": "2", "--threads-batch": "2", "--parallel": "4",
        "--ctx-size": "16384", "--batch-size": "512", "--ubatch-size": "256",
        "--host": "127.0.0.1", "--port": "8080",
    }  # fmt: skip


def _peer_rounds() -> list[dict[str, Any]]:
    def side(decode: float, rss: float, return_ratio: float, **more: float) -> dict[str, Any]:
        return {"decode_tps": decode, "cold_ttft_ms": 100.0, "peak_rss_mb": rss,
                "burst_last_first_token_ms": 2000.0, "burst_tps": 50.0,
                "return_ratio": return_ratio, **more}  # fmt: skip

    return [
        {"product": side(30.0, 700.0, 1.18, restart_ratio=0.2),
         "llama_server": side(30.0, 600.0, 0.13)},
        {"product": side(20.0, 700.0, 1.18, restart_ratio=0.2),
         "llama_server": side(25.0, 600.0, 0.13)},
        {"product": side(36.0, 700.0, 1.18, restart_ratio=0.3),
         "llama_server": side(40.0, 600.0, 0.13)},
        # llama-server failed this round: no ratio
        {"product": side(99.0, 700.0, 1.18, restart_ratio=0.2)},
    ]  # fmt: skip


def test_peer_ratios_are_the_median_of_each_rounds_ratio():
    summary = summarize_peer(_peer_rounds())
    # Per round 1.0, 0.8 and 0.9: median 0.9, where the medians' ratio would say 1.0.
    assert summary["decode_tps"]["ratio"] == pytest.approx(0.9)


def test_peer_targets_pass_and_miss():
    checks = peer_targets(summarize_peer(_peer_rounds()))
    assert {t.name: (t.verdict, t.limit) for t in checks} == {
        # Decode per round 1.0, 0.8 and 0.9 of llama-server's: 0.9, more than 5% short.
        "single-stream decode, pocketchat / llama-server": ("MISS", 0.95),
        "cold TTFT, pocketchat / llama-server": ("PASS", 1.05),
        "peak RSS, 4 slots, pocketchat / llama-server": ("MISS", 1.05),
        "burst of 4, last first token, pocketchat / llama-server": ("PASS", 1.0),
        "burst of 4, tokens/s, pocketchat / llama-server": ("PASS", 0.95),
        "return to a conversation that lost its slot, TTFT / cold TTFT": ("MISS", 0.15),
        "return to a conversation that lost its slot, TTFT / cold TTFT, vs llama-server's": (
            "MISS", 0.13,
        ),
        # The median of 0.2, 0.2, 0.3, 0.2.
        "return to a conversation after a restart, TTFT / cold TTFT": ("PASS", 0.25),
    }  # fmt: skip


def test_peer_table_says_why_llama_server_was_not_measured():
    rounds = [{"product": r["product"]} for r in _peer_rounds()]
    summary = summarize_peer(rounds)
    checks = peer_targets(summary)
    markdown = render_peer(summary, checks, {}, "not built: cmake failed (exit code 1)")
    # The product's own targets (a share of its cold TTFT) are still judged.
    assert (
        markdown.splitlines()[0],
        "| decode, 1 stream, tokens/s | not built | 33.0 (20.0–99.0) | — |" in markdown,
        {t.name: t.verdict for t in checks if t.verdict != "N/A"},
    ) == (
        "llama-server: not built: cmake failed (exit code 1)",
        True,
        {
            "return to a conversation that lost its slot, TTFT / cold TTFT": "MISS",
            "return to a conversation after a restart, TTFT / cold TTFT": "PASS",
        },
    )


def test_burst_figures_count_from_the_moment_the_burst_was_sent():
    def stream(sent: float, first: float, last: float) -> StreamResult:
        return StreamResult(sent_at=sent, first_delta_at=first, last_delta_at=last,
                            usage={"completion_tokens": 8})  # fmt: skip

    figures = burst_figures([stream(10.0, 10.5, 12.0), stream(10.01, 11.0, 14.0)])
    assert figures == {
        "burst_last_first_token_ms": pytest.approx(1000.0),
        "burst_tps": pytest.approx(16 / 4.0),
    }


def test_longest_gap_counts_only_waits_that_end_after_the_burst_arrived():
    # The 0.4 s wait ended before the burst (at 0.55 s); the 1 s one after it.
    assert longest_gap_ms([0.0, 0.1, 0.5, 0.6, 1.6], since=0.55) == pytest.approx(1000.0)
