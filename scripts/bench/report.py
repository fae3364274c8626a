"""The bench's pure parts: statistics over repetitions, targets, Markdown report and chart."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

MB = 1_000_000


def summarize(values: Iterable[float | None]) -> dict[str, float] | None:
    """Median and spread of the repetitions that produced a number; None when none did."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return {
        "median": statistics.median(present),
        "min": min(present),
        "max": max(present),
        "n": len(present),
    }


def median(stats: dict[str, float] | None) -> float | None:
    return None if stats is None else stats["median"]


def kv_bytes_per_token(
    n_layer: int, n_head_kv: int, head_dim: int, bytes_per_value: int = 2
) -> int:
    """K and V (f16 by default) of every layer for one token of context."""
    return n_layer * 2 * n_head_kv * head_dim * bytes_per_value


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    limit: float | None
    at_least: bool  # True: value >= limit passes; False: value <= limit passes
    unit: str = ""

    @property
    def measured(self) -> bool:
        return self.value is not None and self.limit is not None

    @property
    def passed(self) -> bool:
        if not self.measured:
            return False
        assert self.value is not None and self.limit is not None
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    @property
    def margin(self) -> float | None:
        """How far on the good side of the limit (negative: by how much it was missed)."""
        if not self.measured:
            return None
        assert self.value is not None and self.limit is not None
        return self.value - self.limit if self.at_least else self.limit - self.value

    @property
    def verdict(self) -> str:
        if not self.measured:
            return "N/A"
        return "PASS" if self.passed else "MISS"

    def detail(self) -> str:
        """`value <= limit (margin …)` or `(missed by …)`, absolute and relative to the limit."""
        margin = self.margin
        if margin is None or self.limit is None:
            return "not measured"
        sign = ">=" if self.at_least else "<="
        relative = f", {margin / abs(self.limit):+.0%}" if self.limit else ""
        by = "margin" if margin >= 0 else "missed by"
        return (
            f"{_num(self.value)}{self.unit} {sign} {_num(self.limit)}{self.unit} "
            f"({by} {_num(abs(margin))}{self.unit}{relative})"
        )

    def line(self) -> str:
        return f"{self.verdict:<5} {self.name}: {self.detail()}"

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "verdict": self.verdict,
            "margin": self.margin,
            "detail": self.detail(),
        }


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _sum(*values: float | None) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def targets(summary: dict[str, Any], n_ctx: int) -> list[Target]:
    """The product's targets, from the medians of the summary."""

    def m(key: str) -> float | None:
        value = summary.get(key)
        return median(value) if isinstance(value, dict) and "median" in value else None

    aggregate = {n: median(s) for n, s in summary.get("together_tps", {}).items()}
    single = aggregate.get("1")
    slowest = [median(s) for s in summary.get("min_stream_tps", {}).values()]
    worst_stream = min((v for v in slowest if v is not None), default=None)
    rss_p1, rss_p8, kv = m("rss_p1_mb"), m("rss_p8_mb"), summary.get("kv_bytes_per_token")
    extra_slots = (summary.get("parallel") or 8) - 1
    slot_budget = extra_slots * n_ctx * kv / MB if kv else None
    decode_ratio = _ratio(m("decode_tps"), m("raw_decode_tps"))
    cold_limit = _sum(m("raw_cold_prefill_ms"), 30.0)
    follow_limit = _sum(m("raw_followup_prefill_ms"), 30.0)
    reused = m("followup_cached_tokens")
    previous_prompt = summary.get("cold_prompt_tokens") if reused is not None else None
    return [
        Target("single-stream decode, HTTP / raw", decode_ratio, 0.97, True),
        Target("cold TTFT vs raw prefill + 30 ms", m("cold_ttft_ms"), cold_limit, False, " ms"),
        Target(
            "follow-up TTFT vs raw prefill of the same new tokens + 30 ms",
            m("followup_ttft_ms"),
            follow_limit,
            False,
            " ms",
        ),
        Target(
            "follow-up reuses the previous prompt from the cache (tokens)",
            reused,
            previous_prompt,
            True,
        ),
        Target(
            "aggregate decode, 4 streams / 1 stream",
            _ratio(aggregate.get("4"), single),
            2.2,
            True,
            "x",
        ),
        Target(
            "aggregate decode, 8 streams / 1 stream",
            _ratio(aggregate.get("8"), single),
            2.8,
            True,
            "x",
        ),
        Target("slowest stream / single stream", _ratio(worst_stream, single), 1 / 3, True),
        Target("peak RSS, one slot", rss_p1, 650.0, False, " MB"),
        Target(
            f"RSS of {extra_slots} extra slots vs their KV cache",
            _sum(rss_p8, -rss_p1 if rss_p1 is not None else None),
            slot_budget,
            False,
            " MB",
        ),
        Target("process start to healthy", m("startup_s"), 3.0, False, " s"),
        Target("disconnect to next request's generation", m("disconnect_ms"), 100.0, False, " ms"),
    ]


def cell(stats: dict[str, float] | None, scale: float = 1.0) -> str:
    """`median (min–max)`, or the median alone when the repetitions agree or there was one."""
    if stats is None:
        return "—"
    mid, low, high = (stats[k] / scale for k in ("median", "min", "max"))
    if stats.get("n", 1) <= 1 or _num(low) == _num(high):
        return _num(mid)
    return f"{_num(mid)} ({_num(low)}–{_num(high)})"


def comparison_rows(s: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """(label, raw summary key, product summary key) of each row of the main table."""
    rows: list[tuple[str, str | None, str | None]] = [
        ("load (raw) / process start → healthy (product), s", "raw_load_s", "startup_s"),
        (f"prefill {s.get('prefill_tokens')} tokens, tokens/s", "raw_prefill_tps", None),
        (f"cold TTFT, {s.get('cold_prompt_tokens')} prompt tokens, ms", "raw_cold_prefill_ms",
         "cold_ttft_ms"),
        (f"follow-up TTFT, {s.get('followup_new_tokens')} new tokens after "
         f"{s.get('followup_past_tokens')} cached, ms", "raw_followup_prefill_ms",
         "followup_ttft_ms"),
        ("follow-up: tokens found in the cache", None, "followup_cached_tokens"),
        (f"follow-up: tokens prefilled (if the reply re-tokenized as generated: "
         f"{s.get('followup_ideal_new_tokens')})", None, "followup_processed_tokens"),
        ("decode, 1 stream, tokens/s (server's own timings)", "raw_decode_tps",
         "decode_server_tps"),
        ("decode, 1 stream, tokens/s (client: first → last delta)", "raw_decode_tps",
         "decode_tps"),
        ("decode, 1 stream, default sampling (repeat_penalty 1.1), tokens/s", None,
         "decode_default_sampling_tps"),
        ("decode, 1 stream, constrained by a JSON schema (grammar), tokens/s", None,
         "decode_json_schema_tps"),
    ]  # fmt: skip
    levels = sorted({*s.get("raw_batched_tps", {}), *s.get("aggregate_tps", {})}, key=int)
    for n in levels:
        streams = "1 stream" if n == "1" else f"{n} streams"
        rows.append((f"aggregate decode, {streams} decoding together, tokens/s",
                     f"raw_batched_tps.{n}", f"together_tps.{n}"))  # fmt: skip
        rows.append((f"aggregate decode, {streams}, first token to last (others' prefill "
                     "included), tokens/s", None,
                     f"aggregate_tps.{n}"))  # fmt: skip
        rows.append((f"slowest of {streams}, tokens/s", None, f"min_stream_tps.{n}"))
    return [
        *rows,
        ("disconnect → next request generating, ms", None, "disconnect_ms"),
        ("the next request's server-side queued_ms", None, "disconnect_queued_ms"),
        ("peak RSS, 1 slot (raw: 1 sequence), MB", "raw_peak_rss_mb", "rss_p1_mb"),
        (f"peak RSS, {s.get('parallel', 8)} slots (raw: batched context), MB",
         "raw_peak_rss_all_mb", "rss_p8_mb"),
    ]  # fmt: skip


def render_markdown(result: dict[str, Any]) -> str:
    s, meta = result["summary"], result["meta"]
    busy = meta.get("busy_before") or {"cpu_percent": float("nan"), "load_1min": float("nan")}
    noise = ", ".join(f"{k} {v:.2f}" for k, v in meta.get("other_load_cores", {}).items())
    lines = [
        f"Machine: {meta['machine']}  ",
        f"Model: {meta['model']}  ",
        f"Settings: {meta['settings']}  ",
        f"Run: {meta['timestamp']}, {meta['reps']} repetitions, median (min–max); "
        f"before it the CPUs were {busy['cpu_percent']:.0f}% busy, load {busy['load_1min']:.1f}; "
        f"other processes' CPU during each phase, in cores: {noise or '—'}",
        "",
        "| measurement | raw llama.cpp | pocketchat | pocketchat / raw |",
        "|---|---|---|---|",
    ]
    for label, raw_key, product_key in comparison_rows(s):
        raw, product = _lookup(s, raw_key), _lookup(s, product_key)
        ratio = _ratio(median(product), median(raw))
        lines.append(
            f"| {label} | {cell(raw)} | {cell(product)} | "
            f"{_num(ratio) if ratio is not None else ''} |"
        )
    bandwidth = s.get("bandwidth_gbs")
    lines += [
        "",
        f"Memory bandwidth (best of numpy copy/triad): {_num(bandwidth)} GB/s; "
        f"weights read per token {_num(s.get('model_mb'))} MB → decode ceiling "
        f"{_num(s.get('ceiling_tps'))} tokens/s for one stream. Raw reaches "
        f"{_pct(_ratio(median(s.get('raw_decode_tps')), s.get('ceiling_tps')))} of it, "
        f"pocketchat {_pct(_ratio(median(s.get('decode_tps')), s.get('ceiling_tps')))}.",
        "",
        "| target | result |",
        "|---|---|",
    ]
    lines += [f"| {t['name']} | {t['verdict']} {t['detail']} |" for t in result["targets"]]
    if knowledge := result.get("knowledge", {}).get("markdown"):
        lines += ["", knowledge.rstrip("\n")]
    if peer := result.get("peer", {}).get("markdown"):
        lines += ["", peer.rstrip("\n")]
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _lookup(summary: dict[str, Any], key: str | None) -> dict[str, float] | None:
    if key is None:
        return None
    value: Any = summary
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, dict) and "median" in value else None
