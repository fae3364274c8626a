"""The application factory: settings, the runtime loader, guards and one blueprint per concern."""

from __future__ import annotations

from flask import Flask

from pocketchat.api import (
    completions,
    embeddings,
    files,
    openapi,
    spa,
    system,
    vector_stores,
)
from pocketchat.api.errors import register_error_handlers
from pocketchat.api.security import Access, install_guards
from pocketchat.metrics import Metrics
from pocketchat.runtime import RuntimeLoader
from pocketchat.settings import Settings


def create_app(settings: Settings | None = None, *, load_in_background: bool = True) -> Flask:
    settings = settings or Settings()
    app = Flask(__name__, static_folder=None)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    loader = RuntimeLoader(settings, Metrics(), app)
    register_error_handlers(app)
    install_guards(app, settings, Access(settings))
    blueprints = (completions, embeddings, files, vector_stores, system, openapi, spa)
    for module in blueprints:
        app.register_blueprint(module.bp)
    loader.start(background=load_in_background)
    return app
