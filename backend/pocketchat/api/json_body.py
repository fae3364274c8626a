"""Reading a request's JSON body: every way a body can be broken is a 4xx that says which.

Python's json module raises RecursionError (not ValueError) on deeply nested input, and accepts
`\\ud800` escapes that decode to lone surrogates, which no UTF-8 encoder can write: both used to
reach the tokenizer or the parser's caller as a 500.
"""

from __future__ import annotations

import json

from flask import request

from pocketchat.api.errors import APIError

# Far deeper than any real chat request (messages → message → content → part is 4 levels).
MAX_DEPTH = 32


def read_json() -> object:
    if not request.is_json:
        raise APIError(415, "send the body as JSON with Content-Type: application/json")
    raw = request.get_data(cache=True)
    try:
        payload = json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except UnicodeDecodeError as error:
        raise APIError(
            400, f"the request body is not valid UTF-8 (byte {error.start})", code="invalid_json"
        ) from None
    except json.JSONDecodeError as error:
        raise APIError(
            400, f"the request body is not valid JSON ({error.msg}, character {error.pos})",
            code="invalid_json",
        ) from None  # fmt: skip
    _check(payload, "", 0)
    return payload


def _too_deep() -> APIError:
    return APIError(
        400, f"the request body nests deeper than {MAX_DEPTH} levels", code="invalid_json"
    )


def _check(value: object, path: str, depth: int) -> None:
    """Depth limit, and text that UTF-8 can encode (no lone surrogates from `\\udXXX` escapes)."""
    if depth > MAX_DEPTH:
        raise _too_deep()
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, path)
            _check(item, f"{path}.{key}" if path else key, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, f"{path}.{index}" if path else str(index), depth + 1)


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code_point = ord(text[error.start])
        raise APIError(
            400,
            f"{path or 'the body'}: contains a lone surrogate (U+{code_point:04X}), "
            "which is not valid Unicode text",
            code="invalid_unicode",
            param=path or None,
        ) from None
