"""Tool calls and JSON replies with SmolLM2-135M through the clients people use: the official
`openai` package, LangChain (`langchain-openai`) and litellm.

SmolLM2's own template has no tools, so a server with it refuses them (400); these servers
render tools with the shipped `chatml-tools` template (CHAT_TEMPLATE).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests
from conftest import LiveServer, chat_body, serve
from openai import OpenAI
from pydantic import BaseModel, Field

pytestmark = pytest.mark.smollm2

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 30}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city.", "parameters": WEATHER,
}}]  # fmt: skip
QUESTION = {"role": "user", "content": "What is the weather like in Paris?"}
WEATHER_REPORT = "Sunny, 24 degrees Celsius, light wind."


@pytest.fixture(scope="module")
def smollm2_tools(smollm2_model: Path) -> Iterator[LiveServer]:
    live = serve(smollm2_model, chat_template="chatml-tools")
    yield live
    live.stop()


def client_of(live: LiveServer) -> OpenAI:
    return OpenAI(base_url=f"{live.url}/v1", api_key="unused")


def valid_weather_call(name: str, arguments: str) -> bool:
    return name == "get_weather" and jsonschema_rs.validator_for(WEATHER).is_valid(
        json.loads(arguments)
    )


def test_smollm2s_own_template_refuses_tools(smollm2_model: Path) -> None:
    live = serve(smollm2_model)
    try:
        response = requests.post(
            f"{live.url}/v1/chat/completions", json=chat_body(tools=TOOLS), timeout=60
        )
    finally:
        live.stop()
    error = response.json()["error"]
    assert (response.status_code, error["param"], error["code"]) == (
        400, "tools", "tools_unsupported",
    )  # fmt: skip


def test_required_call_then_tool_result_then_final_answer(smollm2_tools: LiveServer) -> None:
    client = client_of(smollm2_tools)
    first = client.chat.completions.create(
        model="smollm2", messages=[QUESTION], tools=TOOLS, tool_choice="required",  # type: ignore[list-item,arg-type]
        max_tokens=100, temperature=0,
    ).choices[0]  # fmt: skip
    call = (first.message.tool_calls or [])[0]
    assert first.finish_reason == "tool_calls"
    assert valid_weather_call(call.function.name, call.function.arguments)  # type: ignore[union-attr]
    final = client.chat.completions.create(
        model="smollm2",
        messages=[
            QUESTION,  # type: ignore[list-item]
            first.message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": WEATHER_REPORT},
        ],
        tools=TOOLS,  # type: ignore[list-item]
        tool_choice="none",
        max_tokens=60,
        temperature=0,
    ).choices[0]
    assert final.finish_reason in ("stop", "length") and (final.message.content or "").strip()


def test_streamed_call_deltas_reassemble_to_the_same_call(smollm2_tools: LiveServer) -> None:
    client = client_of(smollm2_tools)
    request: dict[str, Any] = {
        "model": "smollm2", "messages": [QUESTION], "tools": TOOLS, "tool_choice": "required",
        "max_tokens": 100, "temperature": 0,
    }  # fmt: skip
    whole = client.chat.completions.create(**request).choices[0].message.tool_calls or []
    pieces: dict[int, list[str]] = {}
    for chunk in client.chat.completions.create(**request, stream=True):
        for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            function = delta.function
            assert function is not None
            pieces.setdefault(delta.index, []).extend(
                [function.name or "", function.arguments or ""]
            )
    streamed = [(parts[0], "".join(parts[1::2])) for _, parts in sorted(pieces.items())]
    assert streamed == [(c.function.name, c.function.arguments) for c in whole]  # type: ignore[union-attr]


class City(BaseModel):
    name: str = Field(max_length=40)
    country: str = Field(max_length=40)


def get_weather(city: str) -> str:
    """The current weather in a city."""
    return WEATHER_REPORT


def test_langchain_structured_output_and_tool_round_trip(smollm2_tools: LiveServer) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        base_url=f"{smollm2_tools.url}/v1", api_key="unused", model="smollm2",  # type: ignore[arg-type]
        temperature=0, max_completion_tokens=100,
    )  # fmt: skip
    city = llm.with_structured_output(City, method="json_schema").invoke("Name a city in Japan.")
    weather_tool = tool(get_weather)
    messages: list[Any] = [HumanMessage("What is the weather like in Paris?")]
    asking = llm.bind_tools([weather_tool], tool_choice="required", parallel_tool_calls=False)
    asked = asking.invoke(messages)
    calls = asked.tool_calls  # type: ignore[attr-defined]
    result = weather_tool.invoke(calls[0]["args"])
    messages += [asked, ToolMessage(result, tool_call_id=calls[0]["id"])]
    answer = llm.invoke(messages)
    assert (isinstance(city, City), [c["name"] for c in calls], bool(answer.text.strip())) == (
        True, ["get_weather"], True,
    )  # fmt: skip


def test_litellm_calls_a_tool(smollm2_tools: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # litellm fetches its model price list from the internet at import unless told not to.
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    response = litellm.completion(
        model="openai/smollm2", api_base=f"{smollm2_tools.url}/v1", api_key="unused",
        messages=[QUESTION], tools=TOOLS, tool_choice="required", max_tokens=100, temperature=0,
    )  # fmt: skip
    call = response.choices[0].message.tool_calls[0]
    assert valid_weather_call(call.function.name, call.function.arguments)
