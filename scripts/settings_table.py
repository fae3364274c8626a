"""Render the README's configuration table from the settings' own fields, so it cannot drift.

Each row is a field of `pocketchat.settings.Settings`: its environment variable (the alias when it
has one, else the upper-cased name), its default and its description. A default computed from the
machine (threads, slots) shows its rule, never this machine's number: the field's
`json_schema_extra={"default_rule": ...}` when given, else the "(default: ...)" its description
states. `--check` exits 1 with one line when README.md differs from what this would write.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

REPO_ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("pocketchat") is None:  # run before `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT / "backend"))

from pocketchat.settings import Settings  # noqa: E402

README = REPO_ROOT / "README.md"
START = "<!-- settings-table:start -->"
END = "<!-- settings-table:end -->"
STATED_DEFAULT = re.compile(r"\(default:?\s+([^;)]+)")


def variable_of(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias or field.alias
    if isinstance(alias, AliasChoices):
        alias = next((choice for choice in alias.choices if isinstance(choice, str)), None)
    return (alias if isinstance(alias, str) else name).upper()


def default_of(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    rule = extra.get("default_rule")
    if isinstance(rule, str):
        return rule
    if field.default_factory is not None or field.default is None:
        stated = STATED_DEFAULT.search(field.description or "")
        if stated:
            return stated.group(1).strip()
        return "unset" if field.default_factory is None else "computed at start"
    value = field.default
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, Path):
        inside = value.is_relative_to(REPO_ROOT)
        return f"`{value.relative_to(REPO_ROOT)}/`" if inside else f"`{value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`" if value != "" else "empty"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    rows = ["| variable | default | description |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        variable, default = variable_of(name, field), cell(default_of(field))
        rows.append(f"| `{variable}` | {default} | {cell(field.description or '')} |")
    return "\n".join(rows) + "\n"


def rewritten(readme: str) -> str:
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"error: {README.name} has no {START} … {END} markers.")
    return f"{readme[: start + len(START)]}\n{render()}{readme[end:]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="only say whether README.md is up to date"
    )
    args = parser.parse_args(argv)
    current = README.read_text(encoding="utf-8")
    wanted = rewritten(current)
    if args.check:
        if wanted != current:
            print(
                f"error: {README.name}'s configuration table differs from the settings' "
                "descriptions; run `make readme`.",
                file=sys.stderr,
            )
            return 1
        return 0
    if wanted != current:
        README.write_text(wanted, encoding="utf-8")
        print(f"{README.name}: configuration table rewritten from pocketchat.settings.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
