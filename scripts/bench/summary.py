"""From the raw and product records to the summary: medians and spreads of the headline numbers."""

from __future__ import annotations

from typing import Any

from bench.bandwidth import decode_ceiling_tps
from bench.report import MB, kv_bytes_per_token, summarize


def merge_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One record from several rounds' records of the same shape: lists are joined (dicts of
    lists too), peak RSS is the largest, anything else is the first round's. Raw prefill
    entries are joined per [cached, new] case."""
    merged: dict[str, Any] = {}
    for record in rounds:
        for key, value in record.items():
            if key == "prefill":
                by_case = {(p["past"], p["new"]): p for p in merged.setdefault(key, [])}
                for entry in value:
                    case = (entry["past"], entry["new"])
                    if case in by_case:
                        by_case[case]["seconds"] = by_case[case]["seconds"] + entry["seconds"]
                    else:
                        merged[key].append(dict(entry))
            elif isinstance(value, list):
                merged[key] = merged.get(key, []) + value
            elif isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
                joined = merged.setdefault(key, {})
                for inner, items in value.items():
                    joined[inner] = joined.get(inner, []) + items
            elif key.startswith("peak_rss") and isinstance(value, int):
                merged[key] = max(merged.get(key, 0), value)
            else:
                merged.setdefault(key, value)
    return merged


def _middle(values: list[int]) -> int:
    return sorted(values)[len(values) // 2]


def prefill_cases(one_slot: dict[str, Any], prefill_tokens: int) -> dict[str, list[int]]:
    """[cached, new] token counts the raw side prefills to match the product's requests.

    The follow-up case is what the product really had to read: on a real model the previous
    reply re-tokenizes to the tokens it was generated as and stays cached; on the random-weight
    test model it does not (the model emits tokens its tokenizer would never produce), so only
    the previous prompt can be reused.
    """
    cold = one_slot["cold"]
    follow = one_slot["followup"]
    cold_prompt = _middle([r["usage"]["prompt_tokens"] for r in cold])
    cached = _middle([r["usage"]["prompt_tokens_details"]["cached_tokens"] for r in follow])
    follow_prompt = _middle([r["usage"]["prompt_tokens"] for r in follow])
    return {
        "prefill": [0, prefill_tokens],
        "cold": [0, cold_prompt],
        "followup": [cached, follow_prompt - cached],
    }


def ideal_followup_tokens(one_slot: dict[str, Any]) -> int:
    """New tokens of the follow-up if the whole previous exchange stayed cached: everything but
    the cold prompt and the reply, plus the reply's last token (sampled, never decoded)."""
    cold, follow = one_slot["cold"], one_slot["followup"]
    return max(
        1,
        _middle([r["usage"]["prompt_tokens"] for r in follow])
        - _middle([r["usage"]["prompt_tokens"] for r in cold])
        - _middle([r["usage"]["completion_tokens"] for r in cold])
        + 1,
    )


def raw_summary(raw: dict[str, Any], cases: dict[str, list[int]]) -> dict[str, Any]:
    model = raw["model"]
    prefill: dict[tuple[int, ...], list[float]] = {
        (p["past"], p["new"]): p["seconds"] for p in raw["prefill"]
    }

    def prefill_ms(case: str) -> dict[str, float] | None:
        return summarize(seconds * 1000 for seconds in prefill[tuple(cases[case])])

    prefill_tokens = cases["prefill"][1]
    return {
        "model_mb": model["weights_bytes"] / MB,
        "kv_bytes_per_token": kv_bytes_per_token(
            model["n_layer"], model["n_head_kv"], model["head_dim"]
        ),
        "prefill_tokens": prefill_tokens,
        "cold_prompt_tokens": cases["cold"][1],
        "followup_past_tokens": cases["followup"][0],
        "followup_new_tokens": cases["followup"][1],
        "raw_load_s": summarize(raw["load_s"]),
        "raw_prefill_tps": summarize(
            prefill_tokens / seconds for seconds in prefill[tuple(cases["prefill"])]
        ),
        "raw_cold_prefill_ms": prefill_ms("cold"),
        "raw_followup_prefill_ms": prefill_ms("followup"),
        "raw_decode_tps": summarize(raw["decode_tps"]),
        "raw_batched_tps": {n: summarize(v) for n, v in raw["batched_tps"].items()},
        "raw_peak_rss_mb": summarize([raw["peak_rss_single_bytes"] / MB]),
        "raw_peak_rss_all_mb": summarize([raw["peak_rss_bytes"] / MB]),
    }


def json_schema_decode(one: dict[str, Any]) -> dict[str, float] | None:
    """Decode tokens/s (client side) of the replies constrained by a JSON schema's grammar."""
    return summarize(r["decode_tps"] for r in one.get("decode_json_schema", []))


def one_slot_summary(one: dict[str, Any]) -> dict[str, Any]:
    def timing(records: list[dict[str, Any]], key: str) -> dict[str, float] | None:
        return summarize(r["timings"].get(key) for r in records)

    return {
        "startup_s": summarize(one["startup_s"]),
        "cold_ttft_ms": summarize(r["ttft_ms"] for r in one["cold"]),
        "cold_cached_tokens": summarize(
            r["usage"]["prompt_tokens_details"]["cached_tokens"] for r in one["cold"]
        ),
        "followup_ttft_ms": summarize(r["ttft_ms"] for r in one["followup"]),
        "followup_cached_tokens": summarize(
            r["usage"]["prompt_tokens_details"]["cached_tokens"] for r in one["followup"]
        ),
        "followup_processed_tokens": timing(one["followup"], "prompt_tokens_processed"),
        "followup_ideal_new_tokens": ideal_followup_tokens(one),
        "decode_tps": summarize(r["decode_tps"] for r in one["decode"]),
        "decode_server_tps": timing(one["decode"], "decode_tokens_per_second"),
        "decode_default_sampling_tps": summarize(
            r["decode_tps"] for r in one["decode_default_sampling"]
        ),
        "decode_json_schema_tps": json_schema_decode(one),
        "disconnect_ms": summarize(d["ms"] for d in one["disconnect"]),
        "disconnect_queued_ms": summarize(d["next_queued_ms"] for d in one["disconnect"]),
        "rss_p1_mb": summarize([one["peak_rss_bytes"] / MB]),
    }


def many_slots_summary(many: dict[str, Any]) -> dict[str, Any]:
    levels = many["levels"]
    return {
        "parallel": many["parallel"],
        "aggregate_tps": {
            n: summarize(r["aggregate_tps"] for r in runs) for n, runs in levels.items()
        },
        "together_tps": {
            n: summarize(r.get("together_tps") for r in runs) for n, runs in levels.items()
        },
        "min_stream_tps": {
            n: summarize(r["min_stream_tps"] for r in runs) for n, runs in levels.items()
        },
        "rss_p8_mb": summarize([many["peak_rss_bytes"] / MB]),
    }


def summarize_all(
    raw: dict[str, Any],
    one: dict[str, Any],
    many: dict[str, Any],
    bandwidth: dict[str, float],
    cases: dict[str, list[int]],
) -> dict[str, Any]:
    best_bandwidth = max(bandwidth.values())
    summary = raw_summary(raw, cases)
    summary |= {
        "bandwidth_gbs": best_bandwidth / 1e9,
        "ceiling_tps": decode_ceiling_tps(best_bandwidth, raw["model"]["weights_bytes"]),
    }
    if one:
        summary |= one_slot_summary(one)
    if many:
        summary |= many_slots_summary(many)
    return summary
