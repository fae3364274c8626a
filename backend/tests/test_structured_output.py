"""`response_format` JSON replies: enforced by llama.cpp's grammar sampler, per slot.

With SmolLM2-135M, which left alone answers a request for JSON in prose, through real HTTP and
the official `openai` client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests
from conftest import LiveServer, chat_body, content_of, scale, serve, stream_chat
from openai import OpenAI
from pocketchat.engine.json_schema import UnsupportedSchema, check_schema
from pydantic import BaseModel, Field

PERSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "age": {"type": "integer"},
        "colour": {"enum": ["red", "green", "blue"]},
        "hobbies": {"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 3},
    },
    "required": ["name", "age", "colour", "hobbies"],
    "additionalProperties": False,
}
PROMPT = "Describe Ann, who is 31, likes green and paints, as JSON."
FORMATS = {
    "json_object": {"type": "json_object"},
    "json_schema": {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True},
    },
}


class Colour(str, Enum):
    red = "red"
    green = "green"
    blue = "blue"


class Address(BaseModel):
    city: str = Field(max_length=30)
    country: str = Field(max_length=30)


class Person(BaseModel):
    name: str = Field(max_length=30)
    age: int
    favourite_colour: Colour
    hobbies: list[str] = Field(max_length=3)
    address: Address


@pytest.fixture(scope="module")
def smollm2_server(smollm2_model: Path) -> Iterator[LiveServer]:
    live = serve(smollm2_model, parallel=2)
    yield live
    live.stop()


@pytest.mark.smollm2
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", FORMATS)
def test_the_reply_is_json_of_the_schema(
    smollm2_server: LiveServer, name: str, stream: bool
) -> None:
    # Any JSON object has no bound on its strings: greedy keeps SmolLM2 from rambling in one.
    temperature = 0.7 if name == "json_schema" else 0.0
    body = chat_body(PROMPT, response_format=FORMATS[name], max_tokens=300, temperature=temperature)
    if stream:
        text = content_of(stream_chat(smollm2_server.url, body))
    else:
        response = requests.post(
            f"{smollm2_server.url}/v1/chat/completions", json=body, timeout=120
        )
        text = response.json()["choices"][0]["message"]["content"]
    reply = json.loads(text)
    schema = PERSON_SCHEMA if name == "json_schema" else {"type": "object"}
    assert jsonschema_rs.validator_for(schema).is_valid(reply), text


@pytest.mark.smollm2
def test_the_official_client_parses_a_pydantic_model(smollm2_server: LiveServer) -> None:
    client = OpenAI(base_url=f"{smollm2_server.url}/v1", api_key="unused")
    parsed = [
        client.chat.completions.parse(
            model="smollm2",
            messages=[{"role": "user", "content": "Invent a person who lives in Paris."}],
            response_format=Person,
            temperature=0.8,
            seed=seed,
            max_tokens=400,
        )
        .choices[0]
        .message.parsed
        for seed in range(scale(5, 20))
    ]
    assert all(isinstance(person, Person) for person in parsed)


@pytest.mark.smollm2
def test_a_plain_reply_beside_a_json_reply_is_unchanged(smollm2_server: LiveServer) -> None:
    url = f"{smollm2_server.url}/v1/chat/completions"
    plain = chat_body("Name three fruits.", max_tokens=30)
    structured = chat_body(PROMPT, response_format=FORMATS["json_schema"], max_tokens=100)

    def reply(body: dict[str, Any]) -> str:
        response = requests.post(url, json=body, timeout=120)
        return str(response.json()["choices"][0]["message"]["content"])

    alone = reply(plain)
    with ThreadPoolExecutor(2) as pool:
        beside, _ = pool.map(reply, [plain, structured])
    assert beside == alone


UNSUPPORTED = [
    ({"type": "integer", "minimum": 3}, "minimum"),
    ({"type": "object", "properties": {"a": {"not": {"type": "string"}}}}, "not"),
    ({"type": "string", "format": "email"}, "format"),
    ({"$ref": "https://example.com/schema.json"}, "$ref"),
    ({"type": "array", "items": {"type": "string"}, "uniqueItems": True}, "uniqueItems"),
    ({"type": "thing"}, "type"),
    ({"type": "string", "format": ["date"]}, "format"),
    ({"type": "object", "properties": {"a": {}}, "required": ["b"]}, "required"),
    ({"type": "string", "maxLength": 100_000}, "maxLength"),
]


@pytest.mark.parametrize(("schema", "keyword"), UNSUPPORTED, ids=[k for _, k in UNSUPPORTED])
def test_a_keyword_the_grammar_cannot_enforce_is_named(
    schema: dict[str, Any], keyword: str
) -> None:
    with pytest.raises(UnsupportedSchema) as refused:
        check_schema(schema)
    assert refused.value.keyword == keyword and keyword in str(refused.value)


@pytest.mark.parametrize(("schema", "keyword"), UNSUPPORTED, ids=[k for _, k in UNSUPPORTED])
def test_an_unsupported_schema_is_a_400(
    server: LiveServer, schema: dict[str, Any], keyword: str
) -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    response = requests.post(
        f"{server.url}/v1/chat/completions",
        json=chat_body(response_format=response_format),
        timeout=30,
    )
    error = response.json()["error"]
    assert (response.status_code, error["param"]) == (400, "response_format.json_schema.schema")
    assert repr(keyword) in error["message"]
