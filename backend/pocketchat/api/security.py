"""Request guards: Bearer auth, body size, CORS. Secure by default: no key is no remote access."""

from __future__ import annotations

import hmac

from flask import Flask, Response, request

from pocketchat.api.errors import APIError
from pocketchat.settings import Settings

# Open without a key: the liveness probe, and the web app's own files, which hold no data
# (a browser cannot send a Bearer header to load a page; the app then asks for the key).
PUBLIC_API_PATHS = frozenset({"/api/health"})
API_PREFIXES = ("/v1/", "/api/", "/metrics", "/openapi.json")


def install_guards(app: Flask, settings: Settings) -> None:
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    expected = settings.api_key.get_secret_value().encode() if settings.api_key else None
    origins = set(settings.cors_origin_list)

    @app.before_request
    def _guard() -> Response | None:
        if request.method == "OPTIONS" and origins:
            return Response(status=204)
        path = request.path
        if expected is None or path in PUBLIC_API_PATHS or not path.startswith(API_PREFIXES):
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
            raise APIError(401, "missing or wrong API key (Authorization: Bearer <key>)",
                           code="invalid_api_key")  # fmt: skip
        return None

    @app.after_request
    def _cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origins and origin and (origin in origins or "*" in origins):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = (
                "Authorization, Content-Type, X-Conversation-Id"
            )
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        return response
