"""The built web app at /: static files, and index.html for the app's own routes."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, send_from_directory
from werkzeug.exceptions import HTTPException

from pocketchat.api.errors import APIError
from pocketchat.runtime import current_loader

bp = Blueprint("spa", __name__)


def _static_dir() -> Path:
    directory: Path = current_loader().settings.static_dir
    if not (directory / "index.html").is_file():
        raise APIError(
            404,
            f"the web app is not built ({directory}/index.html is missing); run `make run` "
            "or `cd frontend && npm ci && npm run build`",
            code="web_app_missing",
        )
    return directory


@bp.get("/")
def index() -> Response:
    response = send_from_directory(_static_dir(), "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/<path:filename>")
def asset(filename: str) -> Response:
    directory = _static_dir()
    if (directory / filename).is_file():
        # Vite names assets by content hash: they can be cached for good.
        immutable = filename.startswith("assets/")
        return send_from_directory(directory, filename, max_age=31536000 if immutable else 0)
    if filename.startswith(("v1/", "api/")):
        adapter = current_app.url_map.bind("")
        try:
            adapter.match(f"/{filename}", method="POST")
        except HTTPException:
            raise APIError(404, "no such endpoint", code="not_found") from None
        raise APIError(405, "method not allowed on this endpoint")
    if "." in filename.rsplit("/", 1)[-1]:
        raise APIError(404, "no such file", code="not_found")
    return index()
