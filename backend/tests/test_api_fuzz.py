"""Schemathesis fuzzes every operation of the server's own /openapi.json over real HTTP.

Positive cases (valid by the schema) and negative ones (each breaking the schema somewhere) go
to a live server with the tiny model: no 5xx, every status, content type and body as documented,
invalid data refused, and the server still answers a chat afterwards.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from conftest import STRESS, Figures, LiveServer, chat_body, scale, serve
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.reliability

SCHEMA_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
API_KEY = "fuzz-key"
AUTHORIZATION = {"Authorization": f"Bearer {API_KEY}"}
# Most cases go to the chat endpoint, where the input is; the others take little or nothing.
CHAT_EXAMPLES = scale(40, 1000)
OTHER_EXAMPLES = scale(10, 100)
REPLY_TOKENS = 2


@pytest.fixture(scope="module")
def fuzzed(tiny_model: Path) -> Iterator[LiveServer]:
    # A server of its own: a small context keeps every generated reply short.
    live = serve(
        tiny_model,
        n_ctx=512,
        parallel=2,
        max_queue=4,
        default_max_tokens=REPLY_TOKENS,
        api_key=API_KEY,
    )
    yield live
    live.stop()


def load_schema(live: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json", headers=AUTHORIZATION)


def shorten_reply(case: schemathesis.Case) -> None:
    """A valid case stays valid with a shorter reply: the time goes to inputs, not decoding."""
    if isinstance(case.body, dict):
        for field in ("max_tokens", "max_completion_tokens"):
            if isinstance(case.body.get(field), int) and case.body[field] > REPLY_TOKENS:
                case.body[field] = REPLY_TOKENS


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_every_operation_answers_as_documented(
    fuzzed: LiveServer, figures: Figures, mode: str
) -> None:
    statuses: Counter[int] = Counter()
    session = requests.Session()
    generation_mode = schemathesis.GenerationMode(mode)
    checks = [*SCHEMA_CHECKS, negative_data_rejection] if mode == "negative" else SCHEMA_CHECKS
    tried = operations = 0
    schema = load_schema(fuzzed)
    for result in schema.get_all_operations():
        operation = result.ok()
        # The key is fixed, so negative cases break the request itself (test_auth.py covers keys).
        strategy = operation.as_strategy(generation_mode=generation_mode, headers=AUTHORIZATION)

        @given(case=strategy)
        @settings(
            max_examples=CHAT_EXAMPLES
            if operation.path == "/v1/chat/completions"
            else OTHER_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=not STRESS,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            if mode == "positive":
                shorten_reply(case)
            response = case.call(base_url=fuzzed.url, session=session, timeout=30)
            statuses[response.status_code] += 1
            if mode == "negative" and response.status_code == 413:
                # Rejected for its size before its fields were read (a string far past a
                # maxLength, over MAX_BODY_BYTES, by the app or already by the WSGI server): a
                # rejection schemathesis does not list.
                return
            case.validate_response(response, checks=checks)

        before = sum(statuses.values())
        try:
            fuzz()
        except Unsatisfiable:
            # With the key fixed, an operation without a body or a typed parameter (the GETs,
            # the cancel's free-form id) has nothing left that a negative case could break.
            assert mode == "negative"
        if sum(statuses.values()) > before:
            operations += 1
        tried += sum(statuses.values()) - before
    answer = requests.post(
        f"{fuzzed.url}/v1/chat/completions",
        json=chat_body(),
        headers=AUTHORIZATION,
        timeout=30,
    )
    assert answer.status_code == 200
    seen = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    figures.record(
        "Fuzzing",
        f"{tried} {mode} cases generated from /openapi.json for {operations} operations",
        f"no 5xx; statuses, content types and bodies as documented ({seen}); "
        "the server answered afterwards",
    )


# The chat request's fields that steer tool calls and reasoning: every case of the focused fuzz
# sends them all, with the messages and a reply length; other fields stay out.
TOOL_FIELDS = ("tools", "tool_choice", "parallel_tool_calls", "chat_template_kwargs")


def tool_focused_schema(live: LiveServer) -> schemathesis.BaseSchema:
    spec = requests.get(f"{live.url}/openapi.json", headers=AUTHORIZATION, timeout=30).json()
    request = spec["components"]["schemas"]["ChatCompletionRequest"]
    kept = ("messages", "max_tokens", "stream", *TOOL_FIELDS)
    request["properties"] = {k: v for k, v in request["properties"].items() if k in kept}
    request["required"] = ["messages", *TOOL_FIELDS]
    # Plain user messages: the fields under test are the others (the main fuzz varies these).
    request["properties"]["messages"] = {
        "type": "array", "minItems": 1, "maxItems": 3,
        "items": {"type": "object", "required": ["role", "content"], "properties": {
            "role": {"const": "user"}, "content": {"type": "string"}}},
    }  # fmt: skip
    spec["paths"] = {"/v1/chat/completions": spec["paths"]["/v1/chat/completions"]}
    return schemathesis.openapi.from_dict(spec)


def test_tool_and_reasoning_fields_answer_as_documented(
    fuzzed: LiveServer, figures: Figures
) -> None:
    """Positive cases that always carry the tool and template fields: every answer as
    documented, and some of them replies (calls, or text with tool_choice none)."""
    statuses: Counter[int] = Counter()
    session = requests.Session()
    operation = next(iter(tool_focused_schema(fuzzed).get_all_operations())).ok()

    @given(case=operation.as_strategy(headers=AUTHORIZATION))
    @settings(max_examples=CHAT_EXAMPLES, deadline=None, database=None, derandomize=not STRESS,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def fuzz(case: schemathesis.Case) -> None:
        shorten_reply(case)
        response = case.call(base_url=fuzzed.url, session=session, timeout=30)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=SCHEMA_CHECKS)

    fuzz()
    answer = requests.post(
        f"{fuzzed.url}/v1/chat/completions", json=chat_body(), headers=AUTHORIZATION, timeout=30
    )
    assert (answer.status_code, statuses[200] > 0) == (200, True), statuses
    seen = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    figures.record(
        "Fuzzing",
        f"{sum(statuses.values())} chat requests that all carry {', '.join(TOOL_FIELDS)}",
        f"no 5xx; answers as documented ({seen}); the server answered afterwards",
    )
