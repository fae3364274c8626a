"""The served model as a Flask extension: which file, loading it, and the engine around it.

`ChatModel.init_app(app)` registers it in `app.extensions`; views reach it through
`current_model()`. Loading runs in a background thread so /api/health can answer 503 meanwhile;
a file that cannot be served leaves `load_error`, one sentence naming the file and the reason.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from pocketchat import __version__
from pocketchat.engine.engine import Engine, EngineConfig
from pocketchat.engine.llama import LLAMA_CPP_PYTHON_VERSION, LlamaError, Model
from pocketchat.engine.prompt import ChatPrompt, TemplateUnusable
from pocketchat.model_file import BadModelFile, check_model_file
from pocketchat.presets import PRESETS, preset_path, read_active
from pocketchat.settings import Settings

log = logging.getLogger(__name__)
EXTENSION_KEY = "pocketchat.model"

# GGUF general.file_type → the usual quantization name.
FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
              10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S",
              15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 32: "BF16"}  # fmt: skip


class ModelNotFound(RuntimeError):
    """No model file to serve; the message says how to get one."""


@dataclass(frozen=True)
class ModelChoice:
    path: Path
    model_id: str
    preset: str | None
    fallback: dict[str, str] | None


def choose_model(settings: Settings) -> ModelChoice:
    """MODEL_PATH, else the MODEL preset's file, else the downloader's recorded fallback."""
    if settings.model_path is not None:
        path = settings.model_path.expanduser()
        if not path.is_file():
            raise ModelNotFound(f"MODEL_PATH={path} does not exist or is not a file")
        return ModelChoice(path, path.stem, None, None)
    preset = PRESETS[settings.model]
    path = preset_path(settings.models_dir, preset)
    if path.is_file():
        return ModelChoice(path, preset.name, preset.name, None)
    active = read_active(settings.models_dir)
    served = PRESETS.get(str(active.get("served"))) if active else None
    if active and served and active.get("requested") == preset.name:
        fallback_path = preset_path(settings.models_dir, served)
        if fallback_path.is_file():
            fallback = {
                "requested": preset.name,
                "served": served.name,
                "reason": str(active.get("reason", "the requested model could not be fetched")),
            }
            return ModelChoice(fallback_path, served.name, served.name, fallback)
    raise ModelNotFound(
        f"model file {path} is missing; run `python scripts/download_model.py --preset "
        f"{preset.name}` (or `make run`), or set MODEL_PATH to a GGUF file"
    )


class ChatModel:
    def __init__(self, app: Flask | None = None) -> None:
        self.settings: Settings | None = None
        self.choice: ModelChoice | None = None
        self.model: Model | None = None
        self.prompt: ChatPrompt | None = None
        self.engine: Engine | None = None
        self.load_error: str | None = None
        self.load_seconds: float | None = None
        self.on_ready: Callable[[ChatModel], None] | None = None
        self._loaded = threading.Event()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        self.settings = app.config["SETTINGS"]
        app.extensions[EXTENSION_KEY] = self

    @property
    def ready(self) -> bool:
        return self.engine is not None

    def start_loading(self, *, background: bool = True) -> None:
        """Choose and check the file now; load it with llama.cpp in the background, or now.

        The check reads the file's header only (0.1 s for a 400 MB model), so a file that cannot
        be served is refused before the server listens; `Model` checks it again, as llama.cpp's
        gatekeeper. The load takes seconds, and /api/health answers meanwhile.
        """
        settings = self.settings
        assert settings is not None
        try:
            self.choice = choose_model(settings)
            check_model_file(self.choice.path)
        except (ModelNotFound, BadModelFile) as error:
            self._fail(error)
            return
        if background:
            threading.Thread(target=self._load, name="model-loader", daemon=True).start()
        else:
            self._load()

    def wait_loaded(self, timeout: float | None = None) -> bool:
        return self._loaded.wait(timeout)

    def _load(self) -> None:
        settings, choice = self.settings, self.choice
        assert settings is not None and choice is not None
        started = time.monotonic()
        try:
            if choice.fallback:
                log.warning(
                    "!!! serving the OFFLINE FALLBACK model %s instead of %s: %s",
                    choice.fallback["served"],
                    choice.fallback["requested"],
                    choice.fallback["reason"],
                )
            log.info("loading %s", choice.path)
            model = Model(choice.path, use_mmap=settings.use_mmap, use_mlock=settings.use_mlock)
            self.prompt = ChatPrompt(model.chat_template(), model)
            self.model = model
            engine = Engine(model, engine_config(settings))
            if self.on_ready is not None:
                self.engine = engine
                self.on_ready(self)
            self.engine = engine
            self.load_seconds = time.monotonic() - started
            log.info("model %s ready in %.2f s", choice.model_id, self.load_seconds)
            self._loaded.set()
        except Exception as error:
            self._fail(error)

    def _fail(self, error: Exception) -> None:
        where = str(self.choice.path) if self.choice else "a model"
        self.load_error = f"cannot serve {where}: {error}"
        # A file's fault is said in one sentence; anything else is a bug, with its traceback.
        expected = (ModelNotFound, BadModelFile, LlamaError, TemplateUnusable)
        log.error("%s", self.load_error, exc_info=not isinstance(error, expected))
        self._loaded.set()

    def shutdown(self) -> None:
        if self.engine is not None:
            self.engine.shutdown()

    def info(self) -> dict[str, Any]:
        settings = self.settings
        assert settings is not None
        model, choice = self.model, self.choice
        described: dict[str, Any] | None = None
        if model is not None and choice is not None:
            file_type = model.meta("general.file_type")
            described = {
                "id": choice.model_id,
                "preset": choice.preset,
                "file": choice.path.name,
                "name": model.meta("general.name"),
                "description": model.description(),
                "quantization": FILE_TYPES.get(int(file_type)) if file_type else None,
                "size_bytes": model.size_bytes(),
                "n_params": model.n_params(),
                "n_ctx_train": model.n_ctx_train,
                "chat_template": "gguf",
            }
        return {
            "name": "pocketchat",
            "version": __version__,
            "status": "ok" if self.ready else ("error" if self.load_error else "loading"),
            "error": self.load_error,
            "model": described,
            "fallback": choice.fallback if choice else None,
            "n_ctx": settings.n_ctx,
            "parallel": settings.parallel,
            "n_threads": settings.n_threads,
            "n_batch": settings.n_batch,
            "max_queue": settings.max_queue,
            "load_seconds": round(self.load_seconds, 3) if self.load_seconds else None,
            "versions": {
                "pocketchat": __version__,
                "llama_cpp_python": LLAMA_CPP_PYTHON_VERSION,
                "python": platform.python_version(),
            },
            "system_info": self.engine.context.system_info() if self.engine else None,
        }


def engine_config(settings: Settings) -> EngineConfig:
    return EngineConfig(
        n_ctx_per_seq=settings.n_ctx,
        parallel=settings.parallel,
        n_batch=settings.n_batch,
        n_ubatch=settings.n_ubatch,
        n_threads=settings.n_threads,
        n_threads_batch=settings.n_threads_batch or settings.n_threads,
        max_queue=settings.max_queue,
    )


def current_model() -> ChatModel:
    model: ChatModel = current_app.extensions[EXTENSION_KEY]
    return model
