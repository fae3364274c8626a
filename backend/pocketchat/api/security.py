"""Request guards: Bearer auth, body size, CORS, security headers. No key, no remote access."""

from __future__ import annotations

import hashlib
import hmac

from flask import Flask, Response, request

from pocketchat.api.errors import APIError
from pocketchat.settings import Settings

# Open without a key: the liveness probe, and the web app's own files, which hold no data
# (a browser cannot send a Bearer header to load a page; the app then asks for the key).
PUBLIC_API_PATHS = frozenset({"/api/health"})
API_PREFIXES = ("/v1/", "/api/", "/metrics", "/openapi.json")

# The page runs only its own bundled scripts: no inline script, no eval, no other origin. Inline
# style attributes stay allowed because Vue's transitions set them; model output never reaches
# the DOM unsanitized anyway (DOMPurify), and the CSP is the second line behind it.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _digest(secret: str) -> bytes:
    # Comparing fixed-length digests keeps even the key's length out of the response time.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


class Access:
    """The API key and CORS origins of one app: who may call, and which pages may read."""

    def __init__(self, settings: Settings) -> None:
        self.expected = _digest(settings.api_key.get_secret_value()) if settings.api_key else None
        self.origins = set(settings.cors_origin_list)

    def authorized(self, header: str) -> bool:
        if self.expected is None:
            return True
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            _digest(token.strip()), self.expected
        )

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        if not (self.origins and origin and (origin in self.origins or "*" in self.origins)):
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Vary": "Origin",
            "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Conversation-Id",
            "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
        }


def install_guards(app: Flask, settings: Settings, access: Access) -> None:
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes

    @app.before_request
    def _guard() -> Response | None:
        if request.method == "OPTIONS" and access.origins:
            return Response(status=204)
        path = request.path
        if path in PUBLIC_API_PATHS or not path.startswith(API_PREFIXES):
            return None
        if not access.authorized(request.headers.get("Authorization", "")):
            raise APIError(401, "missing or wrong API key (Authorization: Bearer <key>)",
                           code="invalid_api_key")  # fmt: skip
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        # No route sets these; `extend` appends without werkzeug's per-header scans, which
        # cost more than the rest of a refused request together.
        response.headers.extend(SECURITY_HEADERS)
        response.headers.extend(access.cors_headers(request.headers.get("Origin")))
        return response
