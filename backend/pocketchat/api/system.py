"""Health, server and model information, the model list and Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pocketchat.api.errors import APIError
from pocketchat.model import current_model

bp = Blueprint("system", __name__)


@bp.get("/api/health")
def health() -> tuple[Response, int]:
    model = current_model()
    if model.ready:
        return jsonify({"status": "ok"}), 200
    if model.load_error:
        return jsonify({"status": "error", "error": model.load_error}), 503
    return jsonify({"status": "loading"}), 503


@bp.get("/api/info")
def info() -> Response:
    return jsonify(current_model().info())


@bp.get("/v1/models")
def models() -> Response:
    model = current_model()
    if model.choice is None:
        raise APIError(503, "the model is still loading", code="model_loading", retry_after=2)
    return jsonify(
        {
            "object": "list",
            "data": [
                {
                    "id": model.choice.model_id,
                    "object": "model",
                    "created": 0,
                    "owned_by": "local",
                }
            ],
        }
    )


@bp.get("/metrics")
def metrics() -> Response:
    registry = current_app.extensions["pocketchat.metrics"].registry
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
