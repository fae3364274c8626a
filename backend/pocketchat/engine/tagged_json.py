"""GBNF for JSON between fixed tags, once or repeated: how a forced tool call is written
(`<tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>`).

The JSON's rules come from `json_grammar`; its `root` is renamed so the tags can wrap it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pocketchat.engine.llama import json_grammar

VALUE_RULE = "tagged-value"
# A rule body's parts: string literals and character classes (skipped), rule names (renamed).
_BODY_PART = re.compile(r'"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]|[a-zA-Z0-9-]+|.', re.DOTALL)


def tagged_json_grammar(
    schema: Mapping[str, Any], opening: str, closing: str, *, repeated: bool
) -> str:
    """JSON following `schema` between `opening` and `closing`; with `repeated`, one or more
    such blocks separated by a newline. UnsupportedSchema as `json_grammar` raises it."""
    rules = [_rename_root(rule) for rule in json_grammar(schema).splitlines()]
    block = f"{_literal(opening)} {VALUE_RULE} {_literal(closing)}"
    root = f"root ::= {block}" + (f' ("\\n" {block})*' if repeated else "")
    return "\n".join([root, *rules])


def _literal(text: str) -> str:
    # A JSON string is a GBNF string literal: the same escapes (\n, \", \\, \uXXXX).
    return json.dumps(text)


def _rename_root(rule: str) -> str:
    name, separator, body = rule.partition(" ::= ")
    renamed = "".join(VALUE_RULE if part == "root" else part for part in _BODY_PART.findall(body))
    return f"{VALUE_RULE if name == 'root' else name}{separator}{renamed}"
