"""Every import points down the chain api → runtime → chat → knowledge/context → engine →
llama.cpp."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pocketchat"
# What each layer may not import: the layers above it, and what only the API knows (HTTP).
FORBIDDEN = {
    "engine": ("pocketchat.context", "pocketchat.chat", "pocketchat.knowledge",
               "pocketchat.runtime", "pocketchat.api", "pocketchat.settings", "pocketchat.metrics",
               "flask", "werkzeug"),
    "context": ("pocketchat.chat", "pocketchat.knowledge", "pocketchat.runtime", "pocketchat.api",
                "pocketchat.settings", "flask", "werkzeug"),
    "knowledge": ("pocketchat.chat", "pocketchat.runtime", "pocketchat.api", "pocketchat.settings",
                  "flask", "werkzeug"),
    "chat": ("pocketchat.runtime", "pocketchat.api", "pocketchat.settings", "flask", "werkzeug"),
    "runtime.py": ("pocketchat.api", "pocketchat.app"),
}  # fmt: skip


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    layer = path.relative_to(PACKAGE).parts[0]
    # An entry point (`python -m pocketchat.knowledge`) stands above every layer it uses.
    forbidden = () if path.name == "__main__.py" else FORBIDDEN.get(layer, ())
    upward = sorted(
        name
        for name in imports_of(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )
    assert upward == [], f"{path.name} imports upward: {upward}"


def test_only_the_llama_module_imports_llama_cpp() -> None:
    importers = [
        str(path.relative_to(PACKAGE))
        for path in modules()
        if any(name.split(".")[0] == "llama_cpp" for name in imports_of(path))
    ]
    assert importers == ["engine/llama.py"]
