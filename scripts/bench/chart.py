"""The bench's chart: aggregate decode tokens/s against concurrent streams, product and raw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: the chart is a file

import matplotlib.pyplot as plt

SERIES = (
    ("raw llama.cpp, one batch", "raw_batched_tps", "s--"),
    ("pocketchat over HTTP/SSE", "together_tps", "o-"),
)


def render_chart(summary: dict[str, Any], path: Path, title: str) -> None:
    """Median and min–max of each line; the bandwidth bound too when it is on the same scale."""
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    levels: set[int] = set()
    top = 0.0
    for label, key, style in SERIES:
        points = sorted((int(n), st) for n, st in summary.get(key, {}).items() if st)
        if not points:
            continue
        mids = [st["median"] for _, st in points]
        below = [st["median"] - st["min"] for _, st in points]
        above = [st["max"] - st["median"] for _, st in points]
        xs = [n for n, _ in points]
        axes.errorbar(xs, mids, yerr=[below, above], fmt=style, capsize=4, label=label)
        levels.update(xs)
        top = max(top, *(st["max"] for _, st in points))
    ceiling = summary.get("ceiling_tps")
    if ceiling and ceiling < 2 * top:
        axes.axhline(ceiling, color="grey", linestyle=":", label="memory-bandwidth bound, 1 stream")
    elif ceiling:
        axes.plot([], [], " ", label=f"memory-bandwidth bound, 1 stream: {ceiling:.0f} (off scale)")
    axes.set_xscale("log", base=2)
    axes.set_xticks(sorted(levels), labels=[str(n) for n in sorted(levels)])
    axes.set_ylim(bottom=0)
    axes.set_xlabel("concurrent streams")
    axes.set_ylabel("aggregate decode tokens/s")
    axes.set_title(title, fontsize=9)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
