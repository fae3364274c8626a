"""scripts/check_prereqs.py as `make` runs it: with a tool gone it stops with one line naming the
tool and how to install it; with everything here it says nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_prereqs.py"
COMPILERS = {"cc", "gcc", "clang", "c++", "g++", "clang++"}


def path_without(hidden: set[str], bin_dir: Path) -> str:
    """A PATH of one directory holding what this PATH finds, except `hidden`."""
    bin_dir.mkdir(exist_ok=True)
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = bin_dir / entry.name
            if entry.name in hidden or link.exists() or not os.access(entry.path, os.X_OK):
                continue
            link.symlink_to(entry.path)
    return str(bin_dir)


def check(mode: str, path: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("CC", "CXX", "CHROMIUM_PATH")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), mode], env={**environ, "PATH": path, **env},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "hidden", "env", "named", "install"),
    [
        ("run", {"cmake"}, {}, "cmake", "apt-get install cmake"),
        ("run", COMPILERS, {}, "a C/C++ compiler", "apt-get install build-essential"),
        ("run", {"node"}, {}, "Node.js >= 20.19", "apt-get install nodejs"),
        ("run", {"node"}, {"NODE_SAYS": "v18.20.4"}, "(found 18.20.4)", "https://nodejs.org"),
        ("test", set(), {"CHROMIUM_PATH": "/nonexistent/chromium"}, "Chromium at", "chromium"),
    ],
    ids=["cmake", "compiler", "node", "node-too-old", "chromium"],
)
def test_a_missing_prerequisite_stops_with_one_line(
    mode: str, hidden: set[str], env: dict[str, str], named: str, install: str, tmp_path: Path
) -> None:
    path = path_without(hidden, tmp_path / "bin")
    if "NODE_SAYS" in env:  # an old Node.js in place of the one hidden
        node = tmp_path / "bin" / "node"
        node.write_text('#!/bin/sh\necho "$NODE_SAYS"\n')
        node.chmod(0o755)
    result = check(mode, path, **env)
    lines = result.stderr.splitlines()
    assert (result.returncode, len(lines), named in result.stderr, install in result.stderr) == (
        1,
        1,
        True,
        True,
    ), result.stderr


@pytest.mark.parametrize(
    ("mode", "env"), [("run", {"CHROMIUM_PATH": "/nonexistent/chromium"}), ("test", {})]
)
def test_with_everything_here_it_passes_silently(mode: str, env: dict[str, str]) -> None:
    """`run` needs no browser; `test` finds what this machine has (make test checked it first)."""
    result = check(mode, os.environ["PATH"], **env)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
