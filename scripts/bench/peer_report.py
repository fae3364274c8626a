"""pocketchat against llama-server: the summary of the rounds, the targets and the Markdown table.

Ratios are pocketchat / llama-server, the median of each round's ratio: the two sides of a round
ran minutes apart on the same machine, so their ratio holds while the machine's speed drifts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bench.knowledge import _median_ratio
from bench.report import Target, _num, cell, median, summarize
from bench.scenarios import CONVERSATIONS


@dataclass(frozen=True)
class Row:
    key: str  # the figure in each side's round record (bench.scenarios)
    label: str
    # A ratio target: pocketchat / llama-server must be >= `limit` ("at_least") or <= it
    # ("at_most").
    ratio_target: str | None = None
    target_name: str = ""
    limit: float = 1.0


ROWS = (
    Row("decode_tps", "decode, 1 stream, tokens/s", "at_least", "single-stream decode", 0.95),
    Row("cold_ttft_ms", "cold TTFT, a fresh question ({cold_prompt} prompt tokens), ms",
        "at_most", "cold TTFT", 1.05),
    Row("peak_rss_mb", "peak RSS, 4 slots, MB", "at_most", "peak RSS, 4 slots", 1.05),
    Row("burst_last_first_token_ms", "burst of 4 prompts ({burst_prompt} tokens each): the "
        "last first token, ms", "at_most", "burst of 4, last first token"),
    Row("burst_tps", "burst of 4: tokens/s over the whole burst", "at_least",
        "burst of 4, tokens/s", 0.95),
    Row("burst_stall_ms", "longest gap between tokens of a stream decoding when the burst "
        "arrives, ms"),
    Row("conversation_cold_ms", "2 slots: a conversation's cold TTFT ({conversation_prompt} "
        "tokens), ms"),
    Row("return_ttft_ms", f"2 slots: its next turn after {CONVERSATIONS - 1} other "
        "conversations, TTFT, ms"),
    Row("return_ratio", "… as a share of its cold TTFT"),
    Row("restart_ttft_ms", "… its next turn after a server restart (SIGTERM, same DATA_DIR), "
        "TTFT, ms"),
    Row("restart_ratio", "… as a share of its cold TTFT"),
    Row("long_prefill_ms", "1 slot: TTFT of a {long_prompt}-token prompt, ms"),
    Row("hangup_next_first_token_ms", "1 slot: client hangs up a quarter into that prefill → "
        "the next request's first token, ms"),
)  # fmt: skip
SIDES = ("llama_server", "product")


def summarize_peer(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Per figure: each side's median (min–max) over the rounds, and their ratio."""
    summary: dict[str, Any] = {}
    for row in ROWS:
        values = {side: [r.get(side, {}).get(row.key) for r in rounds] for side in SIDES}
        summary[row.key] = {side: summarize(values[side]) for side in SIDES}
        summary[row.key]["ratio"] = _median_ratio(values["product"], values["llama_server"])
    return summary


# The share of a conversation's cold TTFT its return may take: after it lost its slot, and
# after a server restart.
RETURN_LIMIT = 0.15
RESTART_LIMIT = 0.25


def peer_targets(summary: dict[str, Any]) -> list[Target]:
    """Ratio rows within their limits (llama-server's speed, or within 5% of it), and the
    return to a conversation: a small share of its cold TTFT, and no more than llama-server's."""
    checks = [
        Target(f"{row.target_name}, pocketchat / llama-server", summary[row.key]["ratio"],
               row.limit, row.ratio_target == "at_least", "x")
        for row in ROWS
        if row.ratio_target
    ]  # fmt: skip
    returns, restarts = summary["return_ratio"], summary["restart_ratio"]
    checks += [
        Target(
            "return to a conversation that lost its slot, TTFT / cold TTFT",
            median(returns["product"]),
            RETURN_LIMIT,
            False,
            "x",
        ),
        Target(
            "return to a conversation that lost its slot, TTFT / cold TTFT, vs llama-server's",
            median(returns["product"]),
            median(returns["llama_server"]),
            False,
            "x",
        ),
        Target(
            "return to a conversation after a restart, TTFT / cold TTFT",
            median(restarts["product"]),
            RESTART_LIMIT,
            False,
            "x",
        ),
    ]
    return checks


def prompt_sizes(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, str]:
    """The prompt tokens each side counted in the first round, "product / llama-server" when
    they differ (both apply the model's own chat template)."""
    first = rounds[0] if rounds else {}
    sizes = {}
    for name, group, key in (
        ("cold_prompt", "4_slots", "cold_prompt"),
        ("burst_prompt", "4_slots", "burst_prompts"),
        ("conversation_prompt", "2_slots", "cold_prompt"),
        ("long_prompt", "1_slots", "long_prompt"),
    ):
        counts = []
        for side in ("product", "llama_server"):
            count = first.get(side, {}).get("tokens", {}).get(group, {}).get(key)
            counts.append(count[0] if isinstance(count, list) else count)
        shown = {str(c) for c in counts if c is not None}
        sizes[name] = " / ".join(str(c) for c in counts) if len(shown) > 1 else "".join(shown)
    return sizes


def render_peer(
    summary: dict[str, Any], checks: list[Target], sizes: dict[str, str], llama_server: str
) -> str:
    """The table; `llama_server` is what was run, or "not built: <reason>"."""
    missing = "not built" if llama_server.startswith("not built") else None
    lines = [
        f"llama-server: {llama_server}",
        "",
        "| against llama-server | llama-server | pocketchat | pocketchat / llama-server |",
        "|---|---|---|---|",
    ]
    for row in ROWS:
        figure = summary[row.key]
        peer = missing or cell(figure["llama_server"])
        label = row.label.format_map(
            defaultdict(lambda: "?", {k: v for k, v in sizes.items() if v})
        )
        lines.append(f"| {label} | {peer} | {cell(figure['product'])} | {_num(figure['ratio'])} |")
    lines += ["", "| llama-server target | result |", "|---|---|"]
    lines += [f"| {t.name} | {t.verdict} {t.detail()} |" for t in checks]
    return "\n".join(lines) + "\n"
