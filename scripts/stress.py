#!/usr/bin/env python3
"""`make stress`: the reliability suite at full size, then a table of what was tried and what held.

Runs the backend's reliability tests with POCKETCHAT_STRESS=1 (thousands of fuzzed cases, 100
faults, a 1,000-request soak, the time limits held) and the browser's reliability tests in
Chromium; prints the table, writes bench-results/stress.md, and puts the table into
docs/reliability.md between its markers. Exits non-zero when anything failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC = REPO_ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- stress-table:begin -->", "<!-- stress-table:end -->"
BROWSER_SPECS = ["e2e/reliability.spec.ts", "e2e/import.spec.ts"]


def run_backend(figures: Path, log: Path) -> tuple[bool, str]:
    environment = {**os.environ, "POCKETCHAT_STRESS": "1", "POCKETCHAT_FIGURES": str(figures)}
    command = [sys.executable, "-m", "pytest", "-m", "reliability or stress", "-p",
               "no:cacheprovider", "-q"]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True)
    log.write_text(result.stdout + result.stderr, encoding="utf-8")
    sys.stdout.write(result.stdout[-4000:])
    sys.stderr.write(result.stderr[-4000:])
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "no output"
    return result.returncode == 0, summary


def run_browser() -> tuple[bool, str]:
    environment = {**os.environ, "POCKETCHAT_PYTHON": sys.executable}
    result = subprocess.run(
        ["npx", "playwright", "test", *BROWSER_SPECS], cwd=REPO_ROOT / "frontend",
        env=environment, capture_output=True, text=True,
    )  # fmt: skip
    sys.stdout.write(result.stdout[-3000:])
    passed = re.search(r"(\d+) passed", result.stdout)
    failed = re.search(r"(\d+) failed", result.stdout)
    summary = (
        f"{passed.group(1) if passed else 0} passed, {failed.group(1) if failed else 0} failed"
    )
    return result.returncode == 0, summary


def table(rows: list[dict[str, str]]) -> str:
    lines = ["| Area | What was tried | What held |", "| --- | --- | --- |"]
    for row in rows:
        cells = [row[key].replace("|", "\\|") for key in ("area", "tried", "held")]
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines)


def report(rows: list[dict[str, str]], backend: str, browser: str, seconds: float) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Run {stamp} on {os.cpu_count()} CPUs in {seconds / 60:.1f} min "
        f"(`make stress`). Backend: {backend}. Browser: {browser}.\n\n{table(rows)}\n"
    )


def write_doc(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    DOC.write_text(f"{doc[:start]}\n{text}{doc[end:]}", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "bench-results")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/reliability.md")
    args = parser.parse_args()
    started = time.monotonic()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        figures = Path(scratch) / "figures.jsonl"
        figures.touch()
        # The whole pytest output, for the failures that the tail printed here leaves out.
        backend_ok, backend = run_backend(figures, args.out_dir / "stress-pytest.log")
        rows = [json.loads(line) for line in figures.read_text(encoding="utf-8").splitlines()]
    browser_ok, browser = run_browser()
    rows.append(
        {
            "area": "Browser",
            "tried": "Chromium: the renderer crashed mid-reply; IndexedDB full "
            "(QuotaExceededError) "
            "during a reply; the same file imported twice over an existing conversation",
            "held": f"{browser}: the partial reply kept and marked stopped; the storage error "
            "shown, messages kept, saved once space returns; imports added, nothing overwritten",
        }
    )
    text = report(rows, backend, browser, time.monotonic() - started)
    print("\n" + text)
    (args.out_dir / "stress.md").write_text(text, encoding="utf-8")
    ok = backend_ok and browser_ok
    if ok and not args.no_doc:
        write_doc(text)
        print(f"updated {DOC.relative_to(REPO_ROOT)}")
    elif not ok:
        print("make stress FAILED: docs/reliability.md left as it was", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
