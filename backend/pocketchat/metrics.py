"""Prometheus metrics, in a registry per app so that tests can build many apps in one process."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pocketchat.engine.types import Finished


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pocketchat_requests",
            "Chat completions by outcome: completed, cancelled, rejected, error.",
            ["outcome"],
            registry=self.registry,
        )
        self.prompt_tokens = Counter(
            "pocketchat_prompt_tokens",
            "Prompt tokens of finished requests.",
            registry=self.registry,
        )
        self.prompt_tokens_cached = Counter(
            "pocketchat_prompt_tokens_cached",
            "Prompt tokens found in the KV cache (not prefilled again).",
            registry=self.registry,
        )
        self.completion_tokens = Counter(
            "pocketchat_completion_tokens", "Generated tokens.", registry=self.registry
        )
        self.summaries = Counter(
            "pocketchat_summaries", "Summaries of earlier turns written by the model.",
            registry=self.registry,
        )  # fmt: skip
        self.time_to_first_token = Histogram(
            "pocketchat_time_to_first_token_seconds",
            "From request arrival to the first generated token.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.decode_rate = Histogram(
            "pocketchat_decode_tokens_per_second",
            "Decode speed of each reply.",
            buckets=(1, 2, 5, 10, 15, 20, 25, 30, 40, 60, 100, 200, 500),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "pocketchat_queue_depth", "Requests waiting for a slot.", registry=self.registry
        )
        self.busy_slots = Gauge(
            "pocketchat_busy_slots", "Slots generating or reading a prompt.", registry=self.registry
        )

        self.kv_snapshot_bytes = Gauge(
            "pocketchat_kv_snapshot_bytes",
            "Kept KV caches of conversations that lost their slot, by tier (ram, disk).",
            ["tier"],
            registry=self.registry,
        )
        self.kv_snapshot_restores = Gauge(
            "pocketchat_kv_snapshot_restores",
            "Prompts started from a kept KV cache since the server started.",
            registry=self.registry,
        )

    def watch_engine(self, queue_depth: Callable[[], float], busy: Callable[[], float]) -> None:
        self.queue_depth.set_function(queue_depth)
        self.busy_slots.set_function(busy)

    def watch_snapshots(self, stats: Callable[[], dict[str, int]]) -> None:
        def tier_bytes(tier: str) -> Callable[[], float]:
            return lambda: stats()[f"{tier}_bytes"]

        for tier in ("ram", "disk"):
            self.kv_snapshot_bytes.labels(tier=tier).set_function(tier_bytes(tier))
        self.kv_snapshot_restores.set_function(lambda: stats()["restored"])

    def observe_finished(self, outcome: str, finished: Finished) -> None:
        self.requests.labels(outcome=outcome).inc()
        self.prompt_tokens.inc(finished.prompt_tokens)
        self.prompt_tokens_cached.inc(finished.cached_tokens)
        self.completion_tokens.inc(finished.completion_tokens)
        timings = finished.timings
        if timings.time_to_first_token_ms > 0:
            self.time_to_first_token.observe(timings.time_to_first_token_ms / 1000.0)
        if finished.completion_tokens > 1 and timings.decode_ms > 0:
            self.decode_rate.observe(timings.decode_tokens_per_second)
