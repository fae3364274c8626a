"""Health, server and model information, the model list and Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pocketchat.api.responses import Health, ModelCard, ModelList, json_response
from pocketchat.runtime import NotReady, current_loader

bp = Blueprint("system", __name__)


@bp.get("/api/health")
def health() -> tuple[Response, int]:
    loader = current_loader()
    if loader.ready:
        body, status = Health(status="ok"), 200
    elif loader.error:
        body, status = Health(status="error", error=loader.error), 503
    else:
        body, status = Health(status="loading"), 503
    return json_response(body), status


@bp.get("/api/info")
def info() -> Response:
    return jsonify(current_loader().info())


@bp.get("/v1/models")
def models() -> Response:
    choice = current_loader().choice
    if choice is None:
        raise NotReady(current_loader().error or "the model is still loading")
    card = ModelCard(id=choice.model_id, object="model", created=0, owned_by="local")
    return json_response(ModelList(object="list", data=[card]))


@bp.get("/metrics")
def metrics() -> Response:
    registry = current_loader().metrics.registry
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
