"""The machine's memory bandwidth (STREAM-style copy and triad with numpy) and the decode ceiling.

Decoding one token reads every weight once, so memory bandwidth / model bytes bounds the decode
rate of one sequence; a batch of sequences shares that read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial

import numpy as np

# Triad works block by block so its temporary stays in cache and the arrays cross the memory
# bus exactly once each, as in STREAM.
TRIAD_BLOCK = 1 << 17


def decode_ceiling_tps(bandwidth_bytes_per_s: float, bytes_per_token: float) -> float:
    """Tokens/s if every weight byte is read once per token at full memory bandwidth."""
    return bandwidth_bytes_per_s / bytes_per_token if bytes_per_token > 0 else 0.0


def _parallel(work: Callable[[int, int], None], threads: int, length: int) -> None:
    """Run work(start, stop) over `threads` slices at once (numpy releases the GIL)."""
    bounds = [length * i // threads for i in range(threads + 1)]
    workers = [
        threading.Thread(target=work, args=(bounds[i], bounds[i + 1])) for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def measure(array_bytes: int, threads: int, reps: int) -> dict[str, float]:
    """Best-of-`reps` bandwidth in bytes/s, STREAM's counting (no write-allocate traffic)."""
    length = array_bytes // 8
    a, b, c = np.ones(length), np.full(length, 2.0), np.full(length, 3.0)

    def copy(start: int, stop: int) -> None:
        np.copyto(b[start:stop], a[start:stop])

    def triad(start: int, stop: int) -> None:
        scratch = np.empty(TRIAD_BLOCK)
        for block in range(start, stop, TRIAD_BLOCK):
            end = min(stop, block + TRIAD_BLOCK)
            part = scratch[: end - block]
            np.multiply(c[block:end], 3.0, out=part)
            np.add(b[block:end], part, out=a[block:end])

    kernels = {"copy": (copy, 2), "triad": (triad, 3)}
    results: dict[str, float] = {}
    for name, (kernel, arrays_touched) in kernels.items():
        for count in sorted({1, threads}):
            best = min(_timed(partial(_parallel, kernel, count, length)) for _ in range(reps))
            results[f"{name}_{count}t"] = arrays_touched * length * 8 / best
    return results


def _timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started
