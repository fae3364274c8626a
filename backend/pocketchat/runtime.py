"""What the app serves, built in one piece: the model file, llama.cpp, prompt, engine, context
and chat service, as one `Runtime`, loaded by the `RuntimeLoader` Flask extension.

Loading runs in a background thread so /api/health can answer 503 meanwhile; "ready" means the
runtime exists, and it comes into being whole. A file that cannot be served leaves `error`, one
sentence naming the file and the reason. Views reach both through `current_runtime()` and
`current_loader()`.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from pocketchat import __version__
from pocketchat.chat.service import ChatService
from pocketchat.chat_templates import template_source
from pocketchat.context.manager import ContextManager
from pocketchat.context.prompt import ChatPrompt, TemplateUnusable
from pocketchat.context.template_safety import UnsafeTemplate, check_chat_template
from pocketchat.engine.embedder import Embedder
from pocketchat.engine.engine import Engine, EngineConfig
from pocketchat.engine.gguf_check import BadModelFile, check_gguf_file
from pocketchat.engine.llama import LLAMA_CPP_PYTHON_VERSION, LlamaError, LlamaModel
from pocketchat.engine.snapshots import SnapshotStore, file_sha256, fingerprint
from pocketchat.knowledge.service import KnowledgeBase
from pocketchat.knowledge.store import KnowledgeError, open_store
from pocketchat.metrics import Metrics
from pocketchat.model_choice import ModelChoice, ModelNotFound, choose_model, load_embedder
from pocketchat.settings import Settings

log = logging.getLogger(__name__)
EXTENSION_KEY = "pocketchat"
# How long loading waits for the kept KV caches on disk to be indexed.
SNAPSHOTS_READY_SECONDS = 30.0

# GGUF general.file_type → the usual quantization name.
FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
              10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S",
              15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 32: "BF16"}  # fmt: skip


class NotReady(Exception):
    """The runtime does not exist yet (loading) or will not (the model cannot be served)."""


@dataclass(frozen=True)
class Runtime:
    """Everything that serves requests, built together once the model is loaded."""

    choice: ModelChoice
    llama_model: LlamaModel
    prompt: ChatPrompt
    engine: Engine
    context: ContextManager
    chat: ChatService
    load_seconds: float
    embedder: Embedder | None = None
    embedder_error: str | None = None  # why there is no embedder
    knowledge: KnowledgeBase | None = None
    knowledge_error: str | None = None  # why there is no knowledge base

    def close(self) -> None:
        """End every stream and the indexing, then free llama.cpp's contexts and models."""
        if self.knowledge is not None:
            self.knowledge.close()
        if self.engine.shutdown():
            self.llama_model.close()
        if self.embedder is not None:
            self.embedder.close()


def open_knowledge(
    settings: Settings, embedder: Embedder | None, engine: Engine
) -> tuple[KnowledgeBase | None, str | None]:
    """The knowledge base over KNOWLEDGE_DB_URL (default: DATA_DIR/knowledge.db), or none and
    why: without an embedder, or when the database cannot be opened, chat is still served."""
    if embedder is None:
        return None, "no embedding model"
    url = settings.knowledge_db_url or str(settings.data_dir / "knowledge.db")
    try:
        store = open_store(url, dimensions=embedder.dimensions)
    except (KnowledgeError, OSError) as error:
        log.error("no knowledge base: %s", error)
        return None, f"the knowledge database cannot be opened: {error}"
    knowledge = KnowledgeBase(
        store,
        embedder,
        max_upload_bytes=settings.max_upload_bytes,
        replies_running=lambda: engine.busy_slots > 0,
    )
    knowledge.start()
    return knowledge, None


def build_runtime(settings: Settings, choice: ModelChoice, metrics: Metrics) -> Runtime:
    started = time.monotonic()
    with contextlib.ExitStack() as on_failure:  # closes what was loaded if a later step fails
        # The embedding model is checked (loaded, then let go until first used) before the chat
        # model comes in: the start's peak memory is the larger of the two, not their sum.
        embedder, embedder_error = load_embedder(settings)
        if embedder is not None:
            on_failure.callback(embedder.close)
        llama_model = LlamaModel(
            choice.path, use_mmap=settings.use_mmap, use_mlock=settings.use_mlock
        )
        on_failure.callback(llama_model.close)
        template = template_source(settings.chat_template, llama_model.chat_template())
        prompt = ChatPrompt(template, llama_model)
        engine = Engine(llama_model, engine_config(settings), snapshot_store(settings, choice))
        on_failure.pop_all()
    context = ContextManager(prompt, llama_model, settings.n_ctx)
    metrics.watch_engine(lambda: engine.queue_depth, lambda: engine.busy_slots)
    if engine.snapshots is not None:
        metrics.watch_snapshots(engine.snapshots.stats)
        # Ready with the kept caches on disk: a conversation coming back right after a restart
        # finds its own. (Only the first start with a model hashes it; then it is noted.)
        if not engine.snapshots.wait_ready(SNAPSHOTS_READY_SECONDS):
            log.warning("the KV snapshots on disk are not read yet; serving meanwhile")
    knowledge, knowledge_error = open_knowledge(settings, embedder, engine)
    return Runtime(
        choice=choice,
        llama_model=llama_model,
        prompt=prompt,
        engine=engine,
        context=context,
        chat=ChatService(engine, context, metrics, settings.reply_budget, knowledge),
        load_seconds=time.monotonic() - started,
        embedder=embedder,
        embedder_error=embedder_error,
        knowledge=knowledge,
        knowledge_error=knowledge_error or embedder_error,
    )


class RuntimeLoader:
    """The Flask extension: chooses and checks the model file, then builds the `Runtime`."""

    def __init__(self, settings: Settings, metrics: Metrics, app: Flask | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.choice: ModelChoice | None = None
        self.runtime: Runtime | None = None
        self.error: str | None = None
        self._loaded = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        app.extensions[EXTENSION_KEY] = self

    @property
    def ready(self) -> bool:
        return self.runtime is not None

    def require(self) -> Runtime:
        runtime = self.runtime
        if runtime is None:
            raise NotReady(self.error or "the model is still loading")
        return runtime

    def start(self, *, background: bool = True) -> None:
        """Choose and check the file now; load it with llama.cpp in the background, or now.

        The check reads the file's header only (0.1 s for a 400 MB model), so a file that cannot
        be served is refused before the server listens; `LlamaModel` checks it again, as
        llama.cpp's gatekeeper. The load takes seconds, and /api/health answers meanwhile.
        """
        try:
            self.choice = choose_model(self.settings)
            metadata = check_gguf_file(self.choice.path)
            own = metadata.get("tokenizer.chat_template")
            check_chat_template(template_source(self.settings.chat_template, own))
        except (ModelNotFound, BadModelFile, UnsafeTemplate, OSError) as error:
            self._fail(error)
            return
        if background:
            threading.Thread(target=self._load, name="model-loader", daemon=True).start()
        else:
            self._load()

    def wait_loaded(self, timeout: float | None = None) -> bool:
        return self._loaded.wait(timeout)

    def _load(self) -> None:
        choice = self.choice
        assert choice is not None
        try:
            if choice.fallback:
                log.warning(
                    "!!! serving the OFFLINE FALLBACK model %s instead of %s: %s",
                    choice.fallback["served"],
                    choice.fallback["requested"],
                    choice.fallback["reason"],
                )
            log.info("loading %s", choice.path)
            runtime = build_runtime(self.settings, choice, self.metrics)
            with self._lock:
                if self._closed:  # shut down while loading: nothing will serve it
                    runtime.close()
                    return
                self.runtime = runtime
            log.info("model %s ready in %.2f s", choice.model_id, runtime.load_seconds)
        except Exception as error:
            self._fail(error)
        finally:
            self._loaded.set()

    def _fail(self, error: Exception) -> None:
        where = str(self.choice.path) if self.choice else "a model"
        self.error = f"cannot serve {where}: {error}"
        # A file's fault is said in one sentence; anything else is a bug, with its traceback.
        expected = (ModelNotFound, BadModelFile, UnsafeTemplate, LlamaError, TemplateUnusable)
        log.error("%s", self.error, exc_info=not isinstance(error, expected))
        self._loaded.set()

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            runtime, self.runtime = self.runtime, None
        if runtime is not None:
            runtime.close()

    def info(self) -> dict[str, Any]:
        settings, runtime, choice = self.settings, self.runtime, self.choice
        described: dict[str, Any] | None = None
        if runtime is not None:
            model = runtime.llama_model
            file_type = model.meta("general.file_type")
            described = {
                "id": runtime.choice.model_id,
                "preset": runtime.choice.preset,
                "file": runtime.choice.path.name,
                "name": model.meta("general.name"),
                "description": model.description(),
                "quantization": FILE_TYPES.get(int(file_type)) if file_type else None,
                "size_bytes": model.size_bytes(),
                "n_params": model.n_params(),
                "n_ctx_train": model.n_ctx_train,
                "chat_template": settings.chat_template,
                "tools": runtime.prompt.supports_tools,
                "reasoning": runtime.prompt.reasoning,
            }
        return {
            "name": "pocketchat",
            "version": __version__,
            "status": "ok" if runtime else ("error" if self.error else "loading"),
            "error": self.error,
            "model": described,
            "fallback": choice.fallback if choice else None,
            "n_ctx": settings.n_ctx,
            "parallel": settings.parallel,
            "n_threads": settings.n_threads,
            "n_batch": settings.n_batch,
            "max_queue": settings.max_queue,
            "load_seconds": round(runtime.load_seconds, 3) if runtime else None,
            "versions": {
                "pocketchat": __version__,
                "llama_cpp_python": LLAMA_CPP_PYTHON_VERSION,
                "python": platform.python_version(),
            },
            "system_info": runtime.engine.context.system_info() if runtime else None,
        }


def snapshot_store(settings: Settings, choice: ModelChoice) -> SnapshotStore:
    """Where conversations that lose their slot keep their KV cache (KV_CACHE_RAM_MB,
    KV_CACHE_DISK_MB), for this model file and context shape only."""
    ram_bytes, disk_bytes = settings.kv_cache_bytes
    shape = {
        "n_ctx_per_seq": settings.n_ctx,
        "parallel": settings.parallel,
        "llama_cpp_python": LLAMA_CPP_PYTHON_VERSION,
    }
    directory = settings.data_dir / "kv-cache"
    return SnapshotStore(
        ram_bytes,
        disk_bytes,
        directory,
        lambda: fingerprint(file_sha256(choice.path, directory / "models.json"), **shape),
    )


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


def loader_of(app: Flask) -> RuntimeLoader:
    loader: RuntimeLoader = app.extensions[EXTENSION_KEY]
    return loader


def current_loader() -> RuntimeLoader:
    return loader_of(current_app)


def current_runtime() -> Runtime:
    """The runtime serving this request; NotReady while the model loads or if it cannot."""
    return current_loader().require()
