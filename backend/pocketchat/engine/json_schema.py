"""Which JSON Schema keywords the grammar of a structured reply can enforce.

llama-cpp-python's schema-to-GBNF converter skips what it does not know (`minimum`, `not`,
`uniqueItems`...) without a word: the grammar would then allow replies the schema forbids. A
schema is checked here first, and any keyword outside these lists is refused by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

# Keywords the converter turns into grammar rules.
ENFORCED = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "prefixItems",
        "minItems", "maxItems", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "pattern",
        "format", "minLength", "maxLength",
    }
)  # fmt: skip
# Keywords that describe and constrain nothing.
ANNOTATIONS = frozenset(
    {
        "$schema", "$id", "$comment", "$defs", "definitions", "title", "description",
        "default", "examples", "deprecated", "readOnly", "writeOnly",
    }
)  # fmt: skip
# The string formats the converter has rules for.
FORMATS = frozenset(
    {"date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3", "uuid4", "uuid5"}
)
TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
# Keywords that hold named subschemas, checked like the schema itself.
SUBSCHEMAS = ("$defs", "definitions")
MAX_DEPTH = 32
Kind = TypeVar("Kind")


class UnsupportedSchema(ValueError):
    """The schema needs something the grammar cannot enforce; `keyword` names it."""

    def __init__(self, keyword: str, message: str) -> None:
        super().__init__(message)
        self.keyword = keyword


def check_schema(schema: Mapping[str, Any]) -> None:
    """Raise UnsupportedSchema for the first keyword (or value) the grammar would not enforce."""
    _check(schema, depth=0)


def _check(schema: object, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise UnsupportedSchema("$schema", f"schemas nested deeper than {MAX_DEPTH} levels")
    if not isinstance(schema, Mapping):
        raise UnsupportedSchema("$schema", "every schema must be a JSON object")
    for keyword, value in schema.items():
        if keyword in ANNOTATIONS and keyword not in SUBSCHEMAS:
            continue
        if keyword not in ENFORCED and keyword not in SUBSCHEMAS:
            raise UnsupportedSchema(
                keyword, f"the JSON schema keyword {keyword!r} is not supported"
            )
        _check_value(keyword, value, depth)
    # The grammar only writes the properties it knows: a required one it does not know would
    # make a reply the schema refuses.
    unknown = set(schema.get("required", ())) - set(schema.get("properties", {}))
    if unknown:
        raise UnsupportedSchema(
            "required", f"'required' names {sorted(unknown)}, not in 'properties'"
        )


def _check_value(keyword: str, value: object, depth: int) -> None:
    if keyword in ("properties", *SUBSCHEMAS):
        for subschema in _expect(keyword, value, dict).values():
            _check(subschema, depth + 1)
    elif keyword in ("anyOf", "oneOf", "allOf", "prefixItems"):
        subschemas = _expect(keyword, value, list)
        if not subschemas:
            raise UnsupportedSchema(keyword, f"{keyword!r} must list at least one schema")
        for subschema in subschemas:
            _check(subschema, depth + 1)
    elif keyword == "items" or (keyword == "additionalProperties" and not isinstance(value, bool)):
        _check(value, depth + 1)
    elif keyword == "type":
        types = value if isinstance(value, list) else [value]
        if not types or any(not isinstance(t, str) or t not in TYPES for t in types):
            raise UnsupportedSchema(
                "type", f"the JSON schema keyword 'type' names an unknown type: {value!r}"
            )
    elif keyword == "format" and not (isinstance(value, str) and value in FORMATS):
        raise UnsupportedSchema(
            "format", f"the JSON schema keyword 'format' supports {sorted(FORMATS)}, not {value!r}"
        )
    elif keyword == "required":
        if any(not isinstance(name, str) for name in _expect(keyword, value, list)):
            raise UnsupportedSchema(keyword, "'required' must list property names")
    elif keyword in ("minItems", "maxItems", "minLength", "maxLength"):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1000:
            # Each unit becomes a grammar rule: the bound keeps the grammar small.
            raise UnsupportedSchema(keyword, f"{keyword!r} must be a whole number up to 1000")
    elif keyword == "$ref" and not (isinstance(value, str) and value.startswith("#/")):
        raise UnsupportedSchema(
            keyword, "the JSON schema keyword '$ref' may only point inside it ('#/...')"
        )
    elif keyword == "pattern":
        _expect(keyword, value, str)
    elif keyword == "enum":
        _expect(keyword, value, list)


def _expect(keyword: str, value: object, kind: type[Kind]) -> Kind:
    if not isinstance(value, kind):
        raise UnsupportedSchema(keyword, f"the JSON schema keyword {keyword!r} has the wrong type")
    return value
