"""The application factory: settings, the model extension, guards and one blueprint per concern."""

from __future__ import annotations

from flask import Flask

from pocketchat.api import chat, openapi, spa, system
from pocketchat.api.errors import register_error_handlers
from pocketchat.api.security import Access, install_guards
from pocketchat.chat import ChatService
from pocketchat.context.manager import ContextManager
from pocketchat.metrics import Metrics
from pocketchat.model import ChatModel
from pocketchat.settings import Settings


def create_app(settings: Settings | None = None, *, load_in_background: bool = True) -> Flask:
    settings = settings or Settings()
    app = Flask(__name__, static_folder=None)
    app.config["SETTINGS"] = settings
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    metrics = Metrics()
    app.extensions["pocketchat.metrics"] = metrics
    model = ChatModel(app)

    def serve_chats(loaded: ChatModel) -> None:
        assert loaded.engine is not None and loaded.prompt is not None
        assert loaded.model is not None
        context = ContextManager(loaded.prompt, loaded.model, settings.n_ctx)
        app.extensions[chat.SERVICE_KEY] = ChatService(
            loaded.engine, context, metrics, settings.reply_budget
        )
        engine = loaded.engine
        metrics.watch_engine(lambda: engine.queue_depth, lambda: engine.busy_slots)

    model.on_ready = serve_chats
    access = Access(settings)
    register_error_handlers(app)
    install_guards(app, settings, access)
    for blueprint in (chat.bp, system.bp, openapi.bp, spa.bp):
        app.register_blueprint(blueprint)
    model.start_loading(background=load_in_background)
    return app
