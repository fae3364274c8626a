"""Check, in a second, what `make run` (mode `run`) or `make test` (mode `test`) needs from the
system, and name everything missing in one line with the command that installs it.

Runs with the system python3 before any virtual environment exists, so: standard library only,
and nothing newer than Python 3.7 until the version check has spoken.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from typing import NamedTuple

PYTHON_MIN = (3, 10)
NODE_MIN = (20, 19)  # Vite 8's floor (frontend/package.json "engines")
NODE_URL = "https://nodejs.org"
# What the suites use, not merely what is on PATH: Playwright launches CHROMIUM_PATH, else this
# (frontend/playwright.config.ts), and backend/tests/test_nginx.py runs this nginx.
CHROMIUM_DEFAULT = "/usr/bin/chromium"
NGINX = "/usr/sbin/nginx"
# The end-to-end suite screenshots the Chinese interface for a person to look at.
CJK_FONT_FILE = re.compile(r"cjk|wqy|sourcehan|droidsansfallback|notosanssc|uming|ukai", re.I)
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")


class Missing(NamedTuple):
    what: str  # as the user should read it: "cmake", "Node.js >= 20.19 (found 18.20.4)"
    apt: tuple[str, ...]  # the Debian/Ubuntu packages that provide it
    elsewhere: str = ""  # a hint when apt is not the way (or not enough)


def version_of(command: list[str]) -> tuple[int, ...] | None:
    try:
        output = subprocess.run(
            command, capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", output)
    return tuple(int(part) for part in found.groups() if part is not None) if found else None


def dotted(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def python_problems() -> list[Missing]:
    if sys.version_info < PYTHON_MIN:
        found = dotted(tuple(sys.version_info[:3]))
        return [Missing(f"python3 >= {dotted(PYTHON_MIN)} (found {found})", ("python3",))]
    try:  # Debian and Ubuntu ship venv's pip bootstrap separately, in python3-venv
        import ensurepip
        import venv  # noqa: F401

        if not ensurepip.version():
            raise LookupError("no pip to bootstrap")
    except Exception:
        return [Missing("python3's venv module with pip", ("python3-venv",))]
    return []


def compiler_problems() -> list[Missing]:
    c_compilers = [os.environ.get("CC") or "cc", "gcc", "clang"]
    cxx_compilers = [os.environ.get("CXX") or "c++", "g++", "clang++"]
    if any(shutil.which(name) for name in c_compilers) and any(
        shutil.which(name) for name in cxx_compilers
    ):
        return []
    return [Missing("a C/C++ compiler", ("build-essential",), "`xcode-select --install` on macOS")]


def node_problems() -> list[Missing]:
    problems = []
    node = shutil.which("node")
    version = version_of([node, "--version"]) if node else None
    wanted = f"Node.js >= {dotted(NODE_MIN)}"
    newer = f"Node.js {dotted(NODE_MIN)}+ from {NODE_URL}"
    if version is None:
        problems.append(Missing(wanted, ("nodejs",), f"{newer} where the distribution's is older"))
    elif version < NODE_MIN:  # Debian 12 and Ubuntu 24.04 ship Node 18: apt cannot help there
        problems.append(Missing(f"{wanted} (found {dotted(version)})", (), newer))
    if shutil.which("npm") is None:
        problems.append(Missing("npm", ("npm",)))
    return problems


def tool_problems(tools: dict[str, str]) -> list[Missing]:
    """`tools`: command → Debian package."""
    return [Missing(name, (package,)) for name, package in tools.items() if not shutil.which(name)]


def has_cjk_font() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list:
        listed = subprocess.run(
            [fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=False
        )
        if listed.returncode == 0:
            return bool(listed.stdout.strip())
    for directory in FONT_DIRS:
        for _, _, files in os.walk(os.path.expanduser(directory)):
            if any(CJK_FONT_FILE.search(name) for name in files):
                return True
    return False


def run_problems() -> list[Missing]:
    return [
        *python_problems(),
        *compiler_problems(),
        *tool_problems({"cmake": "cmake", "make": "make"}),
        *node_problems(),
    ]


def test_problems() -> list[Missing]:
    problems = run_problems()
    chromium = os.environ.get("CHROMIUM_PATH") or CHROMIUM_DEFAULT
    if not os.access(chromium, os.X_OK):
        problems.append(
            Missing(
                f"Chromium at {chromium}",
                ("chromium",),
                "set CHROMIUM_PATH to a Chromium or Chrome binary",
            )
        )
    if not os.access(NGINX, os.X_OK):
        problems.append(Missing(f"nginx at {NGINX}", ("nginx",)))
    if not has_cjk_font():
        problems.append(Missing("a Chinese font", ("fonts-noto-cjk",), "any Noto Sans CJK font"))
    return problems


def sentence(target: str, problems: list[Missing]) -> str:
    """One line: what is missing, then how to get it on Debian/Ubuntu and elsewhere."""
    packages = dict.fromkeys(package for problem in problems for package in problem.apt)
    ways = [f"`sudo apt-get install {' '.join(packages)}` on Debian/Ubuntu"] if packages else []
    ways += dict.fromkeys(problem.elsewhere for problem in problems if problem.elsewhere)
    ways.append("elsewhere the same from your package manager (README.md, Install)")
    return f"error: `make {target}` needs {', '.join(p.what for p in problems)}: {'; '.join(ways)}."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["run", "test"], help="what the check is for")
    args = parser.parse_args(argv)
    problems = test_problems() if args.mode == "test" else run_problems()
    if problems:
        print(sentence(args.mode, problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
