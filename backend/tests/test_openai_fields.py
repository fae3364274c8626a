"""Every field of OpenAI's chat completion request is honoured or refused by name, never dropped.

The list of fields comes from the official `openai` package: a field OpenAI adds fails
`test_every_openai_field_is_decided` until it is honoured, accepted as harmless or refused.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import requests
from conftest import LiveServer, chat_body
from openai import OpenAI
from openai.types.chat import completion_create_params
from pocketchat.api.openai_fields import REFUSED
from pocketchat.api.schemas import ChatCompletionRequest
from pocketchat.runtime import loader_of

# Honoured: they change the reply (or its framing) as OpenAI documents.
HONOURED = {
    "messages", "model", "stream", "stream_options", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "frequency_penalty", "presence_penalty", "seed", "stop", "n",
    "response_format", "logit_bias", "logprobs", "top_logprobs", "tools", "tool_choice",
    "parallel_tool_calls",
}  # fmt: skip
# Accepted and ignored: they ask for nothing this server could fail to do.
IGNORED = {
    "user", "safety_identifier", "metadata", "store", "service_tier", "prompt_cache_key",
    "prompt_cache_retention", "prompt_cache_options",
}  # fmt: skip
# What asks for something not done, and a value that does.
REFUSED_VALUES: dict[str, Any] = {
    "audio": {"voice": "alloy", "format": "wav"},
    "modalities": ["text", "audio"],
    "prediction": {"type": "content", "content": "x"},
    "functions": [{"name": "f", "parameters": {}}],
    "function_call": "auto",
    "web_search_options": {},
    "reasoning_effort": "low",
    "verbosity": "low",
    "moderation": {"model": "omni-moderation-latest"},
}
# Harmless values of refused fields, and the ignored fields, that must pass.
ACCEPTED_VALUES: dict[str, Any] = {
    "modalities": ["text"],
    "tool_choice": "none",
    "function_call": "none",
    "logprobs": False,
    "logit_bias": {},
    "user": "someone",
    "safety_identifier": "hash",
    "metadata": {"purpose": "test"},
    "store": True,
    "service_tier": "auto",
    "prompt_cache_key": "k",
    "prompt_cache_retention": "24h",
    "prompt_cache_options": {"ttl": "1h"},
    "response_format": {"type": "text"},
}


def openai_fields() -> set[str]:
    # `stream` lives in the streaming and non-streaming subclasses.
    return set(completion_create_params.CompletionCreateParamsBase.__annotations__) | {"stream"}


def test_every_openai_field_is_decided() -> None:
    decided = HONOURED | IGNORED | set(REFUSED)
    assert openai_fields() - decided == set()
    assert set(REFUSED) == set(REFUSED_VALUES)
    declared = {field.alias or name for name, field in ChatCompletionRequest.model_fields.items()}
    assert openai_fields() <= declared


@pytest.mark.parametrize(("field", "value"), REFUSED_VALUES.items(), ids=list(REFUSED_VALUES))
def test_a_refused_field_gets_a_400_that_names_it(
    server: LiveServer, field: str, value: Any
) -> None:
    response = requests.post(
        f"{server.url}/v1/chat/completions", json=chat_body(**{field: value}), timeout=30
    )
    error = response.json()["error"]
    assert (response.status_code, error["param"]) == (400, field)
    assert REFUSED[field][0] in error["message"]


def test_harmless_values_and_ignored_fields_are_accepted(server: LiveServer) -> None:
    body = chat_body(max_tokens=2, **ACCEPTED_VALUES, some_future_field={"x": 1})
    response = requests.post(f"{server.url}/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 200, response.text


def test_openapi_documents_the_refused_fields(server: LiveServer) -> None:
    schema = requests.get(f"{server.url}/openapi.json", timeout=30).json()
    properties = schema["components"]["schemas"]["ChatCompletionRequest"]["properties"]
    assert all(properties[field]["description"].startswith("Refused") for field in REFUSED)


def test_logit_bias_of_100_forces_a_token(server: LiveServer) -> None:
    model = loader_of(server.app).require().llama_model
    token = model.tokenize("hello", special=False)[0]
    body = chat_body(max_tokens=3, temperature=0, logit_bias={str(token): 100})
    response = requests.post(f"{server.url}/v1/chat/completions", json=body, timeout=30)
    expected = (model.token_bytes(token) * 3).decode("utf-8", errors="replace")
    assert response.json()["choices"][0]["message"]["content"] == expected


@pytest.mark.parametrize(
    "logit_bias", [{"99999999": 5}, {"a": 5}, {"1": 101}], ids=["outside", "not a token", "too big"]
)
def test_a_bad_logit_bias_is_a_400(server: LiveServer, logit_bias: dict[str, int]) -> None:
    body = chat_body(logit_bias=logit_bias)
    response = requests.post(f"{server.url}/v1/chat/completions", json=body, timeout=30)
    param = response.json()["error"]["param"]
    assert response.status_code == 400 and param.split(".")[0] == "logit_bias"


def test_logprobs_come_in_openais_shape(server: LiveServer) -> None:
    body = chat_body(max_tokens=6, temperature=0, logprobs=True, top_logprobs=5)
    response = requests.post(f"{server.url}/v1/chat/completions", json=body, timeout=30)
    choice = response.json()["choices"][0]
    tokens = choice["logprobs"]["content"]
    assert len(tokens) == 6
    # A token may hold part of a character: its `bytes` join up, its text may not.
    joined = b"".join(bytes(t["bytes"]) for t in tokens)
    assert joined.decode("utf-8", errors="replace") == choice["message"]["content"]
    for token in tokens:
        top = token["top_logprobs"]
        assert len(top) == 5 and [t["logprob"] for t in top] == sorted(
            (t["logprob"] for t in top), reverse=True
        )
        # Greedy: the chosen token is the most likely one, and probabilities sum to at most 1.
        assert (token["token"], token["logprob"]) == (top[0]["token"], top[0]["logprob"])
        assert 0 < sum(math.exp(t["logprob"]) for t in top) <= 1.0 + 1e-6


def test_streamed_logprobs_cover_every_token(server: LiveServer) -> None:
    client = OpenAI(base_url=f"{server.url}/v1", api_key="unused")
    chunks = list(
        client.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": "Hello"}],
            stream=True,
            max_tokens=8,
            logprobs=True,
            top_logprobs=2,
        )
    )
    tokens = [
        token
        for chunk in chunks
        if chunk.choices and chunk.choices[0].logprobs
        for token in chunk.choices[0].logprobs.content or []
    ]
    usage = chunks[-1].usage
    assert usage is not None and len(tokens) == usage.completion_tokens == 8


@pytest.mark.parametrize(
    "fields", [{"top_logprobs": 2}, {"logprobs": True, "top_logprobs": 21}], ids=["alone", "21"]
)
def test_a_bad_top_logprobs_is_a_400(server: LiveServer, fields: dict[str, Any]) -> None:
    response = requests.post(
        f"{server.url}/v1/chat/completions", json=chat_body(**fields), timeout=30
    )
    assert (response.status_code, response.json()["error"]["param"]) == (400, "top_logprobs")
