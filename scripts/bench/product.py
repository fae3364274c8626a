"""The product's measurements over HTTP/SSE: start-up, time to first token, decode (plain and
constrained by a JSON schema's grammar), concurrency, disconnects and memory, each against a live
`python -m pocketchat`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.client import StreamResult, chat_body, concurrent_streams, stream_chat
from bench.server import ServerProcess

# Long enough for 50 tokens of any tokenizer; the bench cuts them to size in the model's tokens.
QUESTION = (
    "I am planning a small vegetable garden on a sunny balcony in a city with cold winters and "
    "hot, dry summers. Which vegetables and herbs grow well in pots, how deep and how wide "
    "should the pots be, which soil should I buy, how often should I water them in July, and "
    "what should I do with the plants when the first frost comes in October or November?"
)
FOLLOW_UP = "Thanks a lot. And which of them can I sow first, and when exactly should I start?"
STORY = (
    "Write a long story about an old lighthouse keeper on a rocky island who, one stormy "
    "night, sees the lights of a ship that vanished forty years ago, and about what he finds "
    "when the sea calms down the next morning."
)


# A structured reply as an application asks for one: a list of records, long enough that every
# decode measurement ends at its max_tokens, each string bounded as schemas usually bound them.
RECORDS_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "records",
        "schema": {
            "type": "object",
            "properties": {
                "records": {
                    "type": "array",
                    "minItems": 50,
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string", "maxLength": 40},
                            "note": {"type": "string", "maxLength": 80},
                        },
                        "required": ["name", "note"],
                    },
                }
            },
            "required": ["records"],
        },
    },
}


@dataclass(frozen=True)
class Prompts:
    """User messages sized in the served model's tokens (see bench.raw.fit_words)."""

    question: str  # a cold question, ~50 tokens
    follow_up: str  # a short new turn, ~16 tokens
    story: str  # the prompt of every decode measurement, ~32 tokens


@dataclass(frozen=True)
class Workload:
    reps: int
    ttft_max_tokens: int
    decode_tokens: int
    batch_tokens: int
    long_tokens: int
    concurrency: tuple[int, ...]
    prompts: Prompts


def conversation(question: str) -> list[dict[str, str]]:
    """A fresh conversation: the system message starts with a nonce, so no cached prefix."""
    return [
        {"role": "system", "content": f"{uuid.uuid4().hex[:8]}: answer helpfully."},
        {"role": "user", "content": question},
    ]


def _server_settings(base: dict[str, str], parallel: int) -> dict[str, str]:
    return {**base, "PARALLEL": str(parallel)}


def _check(result: StreamResult, what: str) -> StreamResult:
    if result.status != 200 or result.error or result.first_delta_at is None:
        raise RuntimeError(
            f"{what}: status {result.status}, error {result.error!r}, "
            f"{len(result.text)} characters of text"
        )
    return result


def start_server(base: dict[str, str], parallel: int, log_dir: Path) -> tuple[ServerProcess, float]:
    """A healthy server with `parallel` slots, and the seconds it took to get there."""
    log_path = log_dir / f"server-parallel-{parallel}.log"
    server = ServerProcess.start(_server_settings(base, parallel), log_path)
    assert server.startup_seconds is not None
    return server, server.startup_seconds


def one_slot(base: dict[str, str], work: Workload, log_dir: Path) -> dict[str, Any]:
    """PARALLEL=1: start-up, cold and follow-up TTFT, single-stream decode, disconnect, RSS."""
    startups = []
    for _ in range(work.reps - 1):
        server, seconds = start_server(base, 1, log_dir)
        server.stop()
        startups.append(seconds)
    server, seconds = start_server(base, 1, log_dir)
    startups.append(seconds)
    with server:
        port, prompts = server.port, work.prompts
        out: dict[str, Any] = {"startup_s": startups, "info": server.get_json("/api/info")}
        _check(stream_chat(port, chat_body(conversation(prompts.question), 8)), "warm-up")
        out["cold"], out["followup"] = [], []
        for _ in range(work.reps):
            messages = conversation(prompts.question)
            cold = _check(stream_chat(port, chat_body(messages, work.ttft_max_tokens)), "cold")
            messages += [
                {"role": "assistant", "content": cold.text},
                {"role": "user", "content": prompts.follow_up},
            ]
            follow = _check(stream_chat(port, chat_body(messages, work.ttft_max_tokens)), "follow")
            out["cold"].append(_record(cold))
            out["followup"].append(_record(follow))
        story = chat_body(conversation(prompts.story), work.decode_tokens)
        out["decode"] = [
            _record(_check(stream_chat(port, story), "decode")) for _ in range(work.reps)
        ]
        default_sampling = chat_body(conversation(prompts.story), work.batch_tokens)
        del default_sampling["repeat_penalty"]
        out["decode_default_sampling"] = [
            _record(_check(stream_chat(port, default_sampling), "default sampling"))
        ]
        # The same decode through llama.cpp's grammar sampler (response_format json_schema).
        records = {**story, "response_format": RECORDS_FORMAT}
        out["decode_json_schema"] = [
            _record(_check(stream_chat(port, records), "JSON schema")) for _ in range(work.reps)
        ]
        out["disconnect"] = [_disconnect(port, work) for _ in range(work.reps)]
        out["peak_rss_bytes"] = server.peak_rss()
    return out


def _disconnect(port: int, work: Workload) -> dict[str, Any]:
    """Hang up a long reply mid-stream; with one slot, the next request waits until it is freed.

    close → the next request's first token, minus that request's own prefill (server prompt_ms),
    is how long the abandoned reply kept the slot plus the HTTP overhead of the next request.
    """
    long_reply = stream_chat(
        port, chat_body(conversation(work.prompts.story), work.long_tokens), close_after_deltas=3
    )
    if long_reply.closed_at is None:
        raise RuntimeError(f"the long reply ended before it could be cut: {long_reply.error!r}")
    nxt = _check(stream_chat(port, chat_body(conversation("Hello!"), 2)), "after disconnect")
    assert nxt.first_delta_at is not None
    prompt_ms = float(nxt.timings.get("prompt_ms", 0.0))
    return {
        "close_to_first_token_ms": (nxt.first_delta_at - long_reply.closed_at) * 1000,
        "next_prompt_ms": prompt_ms,
        "next_queued_ms": nxt.timings.get("queued_ms"),
        "ms": (nxt.first_delta_at - long_reply.closed_at) * 1000 - prompt_ms,
    }


def many_slots(base: dict[str, str], work: Workload, log_dir: Path) -> dict[str, Any]:
    """PARALLEL=max(concurrency): aggregate and per-stream decode rates, then its peak RSS."""
    parallel = max(work.concurrency)
    server, startup = start_server(base, parallel, log_dir)
    with server:
        out: dict[str, Any] = {"parallel": parallel, "startup_s": [startup], "levels": {}}
        _check(stream_chat(server.port, chat_body(conversation(work.prompts.story), 8)), "warm-up")
        for streams in work.concurrency:
            runs = []
            for _ in range(work.reps):
                # Each conversation starts with its own nonce: no shared prefix to reuse.
                bodies = [
                    chat_body(conversation(work.prompts.story), work.batch_tokens)
                    for _ in range(streams)
                ]
                results = [
                    _check(r, f"{streams} streams") for r in concurrent_streams(server.port, bodies)
                ]
                runs.append(aggregate(results))
            out["levels"][str(streams)] = runs
        out["peak_rss_bytes"] = server.peak_rss()
    return out


def aggregate(results: list[StreamResult]) -> dict[str, Any]:
    """Decode rates of streams started together.

    `together_tps`: tokens per second while every stream is decoding, from the last stream's
    first token to the first stream's last one: what raw llama.cpp's batched decode measures.
    `aggregate_tps`: tokens after each first, from the first first-token to the very end: the
    same plus the time some streams spent waiting for others' prompts to be read.
    """
    firsts = [r.first_delta_at for r in results if r.first_delta_at is not None]
    lasts = [r.last_delta_at for r in results if r.last_delta_at is not None]
    tokens = sum(max(0, r.completion_tokens - 1) for r in results)
    window = max(lasts) - min(firsts) if firsts and lasts else 0.0
    rates = [r.decode_tps for r in results]
    return {
        "aggregate_tps": tokens / window if window > 0 else None,
        "together_tps": _together_tps(results),
        "stream_tps": rates,
        "min_stream_tps": min((r for r in rates if r is not None), default=None),
        "server_stream_tps": [r.timings.get("decode_tokens_per_second") for r in results],
        "completion_tokens": [r.completion_tokens for r in results],
    }


def _together_tps(results: list[StreamResult]) -> float | None:
    if not results or any(not r.delta_times for r in results):
        return None
    start = max(r.delta_times[0] for r in results)
    end = min(r.delta_times[-1] for r in results)
    if end <= start:
        return None
    # A delta usually carries one token; scale by each stream's own tokens per delta.
    tokens = sum(
        sum(start < t <= end for t in r.delta_times) * r.completion_tokens / len(r.delta_times)
        for r in results
    )
    return tokens / (end - start)


def _record(result: StreamResult) -> dict[str, Any]:
    return {
        "ttft_ms": result.ttft_ms,
        "decode_tps": result.decode_tps,
        "finish_reason": result.finish_reason,
        "usage": result.usage,
        "timings": result.timings,
    }
