"""Health, info, models, metrics, OpenAPI and the web app at /."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import requests
from conftest import LiveServer, build_app, chat_body
from flask.testing import FlaskClient
from pocketchat.runtime import loader_of


def test_health_is_ok_when_loaded(client: FlaskClient) -> None:
    response = client.get("/api/health")
    assert (response.status_code, response.json) == (200, {"status": "ok"})


def test_health_is_503_with_the_reason_when_the_model_cannot_load(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF this is not a model")
    app = build_app(broken)
    response = app.test_client().get("/api/health")
    assert response.status_code == 503
    assert response.json["status"] == "error"
    chat = app.test_client().post("/v1/chat/completions", json=chat_body())
    assert (chat.status_code, chat.json["error"]["code"]) == (503, "model_loading")


def test_health_is_503_while_loading(tiny_model: Path) -> None:
    app = build_app(tiny_model)
    loader = loader_of(app)
    runtime, loader.runtime = loader.runtime, None  # as it is before the loader thread finishes
    try:
        response = app.test_client().get("/api/health")
        chat = app.test_client().post("/v1/chat/completions", json=chat_body())
    finally:
        assert runtime is not None
        runtime.close()
    assert (response.status_code, response.json["status"]) == (503, "loading")
    assert (chat.status_code, chat.json["error"]["code"]) == (503, "model_loading")


def test_info_describes_model_and_runtime(client: FlaskClient) -> None:
    info = client.get("/api/info").json
    assert info["model"]["file"] == "tiny.gguf"
    assert info["model"]["n_params"] > 0
    assert info["fallback"] is None
    assert {"n_ctx", "parallel", "n_threads", "n_batch"} <= info.keys()
    assert info["versions"]["llama_cpp_python"]


def test_models_lists_the_served_model(client: FlaskClient) -> None:
    models = client.get("/v1/models").json
    assert [m["id"] for m in models["data"]] == ["tiny"]


def test_metrics_count_requests_tokens_and_latency(server: LiveServer) -> None:
    requests.post(f"{server.url}/v1/chat/completions", json=chat_body(max_tokens=5), timeout=30)
    assert server.metric("pocketchat_requests_total", outcome="completed") == 1
    assert server.metric("pocketchat_completion_tokens_total") == 5
    assert server.metric("pocketchat_time_to_first_token_seconds_count") == 1
    assert server.metric("pocketchat_queue_depth") == 0


def test_openapi_describes_every_endpoint(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    assert {"/v1/chat/completions", "/v1/models", "/api/health", "/api/info", "/metrics"} <= set(
        spec["paths"]
    )
    schema = spec["components"]["schemas"]["ChatCompletionRequest"]
    assert {"messages", "context_overflow", "temperature"} <= schema["properties"].keys()


def test_the_web_app_is_served_at_root(
    live_server: Callable[..., LiveServer], tiny_model: Path, tmp_path: Path
) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>pocketchat</title>")
    (tmp_path / "assets" / "app-1234.js").write_text("console.log(1)")
    server = live_server(tiny_model, static_dir=tmp_path)
    root = requests.get(server.url + "/", timeout=10)
    assert "pocketchat" in root.text and root.headers["Cache-Control"] == "no-cache"
    asset = requests.get(server.url + "/assets/app-1234.js", timeout=10)
    assert "max-age=31536000" in asset.headers["Cache-Control"]
    # The app's own routes fall back to index.html; missing files are 404.
    assert "pocketchat" in requests.get(server.url + "/chat/123", timeout=10).text
    assert requests.get(server.url + "/assets/missing.js", timeout=10).status_code == 404


def test_the_installable_app_files_are_served_for_a_browser_to_use(
    tiny_model: Path, tmp_path: Path
) -> None:
    # A browser installs the app only from a manifest of its own type, and registers a service
    # worker only from a JavaScript file that the CSP lets run as a worker.
    (tmp_path / "index.html").write_text("<!doctype html><title>pocketchat</title>")
    (tmp_path / "manifest.webmanifest").write_text('{"name": "pocketchat"}')
    (tmp_path / "sw.js").write_text("self.addEventListener('fetch', () => {})")
    app = build_app(tiny_model, static_dir=tmp_path)
    manifest = app.test_client().get("/manifest.webmanifest")
    worker = app.test_client().get("/sw.js")
    for response in (manifest, worker):
        response.close()  # a file is sent from an open file
    loader_of(app).shutdown()
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in worker.headers["Content-Security-Policy"].split(";")
    )
    # worker-src falls back to script-src, manifest-src to default-src.
    allowed = (
        policy.get("worker-src", policy["script-src"]),
        policy.get("manifest-src", policy["default-src"]),
    )
    javascript = worker.mimetype in {"text/javascript", "application/javascript"}
    assert (manifest.mimetype, javascript, allowed) == (
        "application/manifest+json",
        True,
        ("'self'", "'self'"),
    )
    # A new version of the worker is found at the next page load, not a day later.
    assert "max-age=31536000" not in worker.headers.get("Cache-Control", "")
