"""API_KEY turns on Bearer auth for everything but the health probe; remote binds need a key."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from conftest import Figures, LiveServer, chat_body, make_settings
from pocketchat.api.security import API_PREFIXES
from pydantic import ValidationError

KEY = "s3cret-key"


@pytest.fixture
def secured(live_server: Callable[..., LiveServer], tiny_model: Path) -> LiveServer:
    return live_server(tiny_model, api_key=KEY)


@pytest.mark.parametrize(
    ("path", "method"),
    [("/v1/chat/completions", "POST"), ("/v1/models", "GET"), ("/api/info", "GET"),
     ("/metrics", "GET"), ("/openapi.json", "GET")],
)  # fmt: skip
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {KEY}", "Bearer", f"Bearer {KEY}x"]
)
def test_without_the_key_everything_is_401(
    secured: LiveServer, path: str, method: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.request(
        method, secured.url + path, json=chat_body(), headers=headers, timeout=10
    )
    assert (response.status_code, response.json()["error"]["code"]) == (401, "invalid_api_key")


def test_with_the_key_the_api_answers(secured: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    response = requests.post(
        f"{secured.url}/v1/chat/completions", json=chat_body(), headers=headers, timeout=30
    )
    assert response.status_code == 200


def test_health_needs_no_key(secured: LiveServer) -> None:
    assert requests.get(f"{secured.url}/api/health", timeout=10).status_code == 200


def test_without_a_key_the_api_is_open_on_loopback(server: LiveServer) -> None:
    assert requests.get(f"{server.url}/v1/models", timeout=10).status_code == 200


def test_remote_bind_without_key_is_refused(tiny_model: Path) -> None:
    with pytest.raises(ValidationError, match="API_KEY"):
        make_settings(tiny_model, host="0.0.0.0")


@pytest.mark.parametrize("overrides", [{"api_key": KEY}, {"allow_no_auth": True}, {"host": "::1"}])
def test_remote_bind_is_allowed_with_key_or_explicit_opt_out(
    tiny_model: Path, overrides: dict[str, object]
) -> None:
    host = overrides.pop("host", "0.0.0.0")
    assert make_settings(tiny_model, host=host, **overrides).host == host


def test_no_cors_headers_unless_configured(server: LiveServer) -> None:
    response = requests.get(
        f"{server.url}/v1/models", headers={"Origin": "http://evil.example"}, timeout=10
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def api_routes(server: LiveServer) -> list[tuple[str, str]]:
    """Every API route the app has, as (method, path with its parameters filled in)."""
    routes = []
    for rule in server.app.url_map.iter_rules():
        path = re.sub(r"<[^>]+>", "x", rule.rule)
        if not path.startswith(API_PREFIXES):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, path))
    return routes


@pytest.mark.reliability
def test_every_api_route_but_health_refuses_a_missing_or_wrong_key(
    secured: LiveServer, figures: Figures
) -> None:
    routes = api_routes(secured)
    refused = []
    wrong_keys = [None, "Bearer ", f"Bearer {KEY[:-1]}", f"Bearer {KEY}{KEY}", f"bearer  {KEY} x"]
    for method, path in routes:
        for authorization in wrong_keys:
            headers = {"Authorization": authorization} if authorization else {}
            response = requests.request(method, secured.url + path, headers=headers, timeout=10)
            refused.append((method, path, response.status_code))
    open_routes = {(m, p) for m, p, status in refused if status != 401}
    assert open_routes == {("GET", "/api/health")}
    # The list is the app's own: a route added later is checked without editing this test.
    assert len(routes) >= 7
    figures.record(
        "Access",
        f"{len(routes)} API routes (all the app registers) x {len(wrong_keys)} missing or wrong "
        "keys, API_KEY set",
        "every one 401 but /api/health; keys compared as SHA-256 digests with "
        "hmac.compare_digest (no timing or length leak); non-loopback HOST without API_KEY "
        "refused at start",
    )


@pytest.mark.reliability
@pytest.mark.parametrize("path", ["/", "/c/some-conversation", "/v1/models", "/v1/nothing"])
def test_responses_carry_security_headers(server: LiveServer, path: str) -> None:
    headers = requests.get(server.url + path, timeout=10).headers
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in headers["Content-Security-Policy"].split(";")
    )
    assert (
        policy["script-src"],
        policy["frame-ancestors"],
        policy["object-src"],
        headers["X-Content-Type-Options"],
        headers["X-Frame-Options"],
    ) == ("'self'", "'none'", "'none'", "nosniff", "DENY")
