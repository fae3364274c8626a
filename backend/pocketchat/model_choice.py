"""Which files to serve: the chat model (MODEL_PATH, the MODEL preset, or the downloader's
recorded fallback) and the embedding model (EMBEDDING_MODEL_PATH, its preset, or its fallback).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pocketchat.engine.embedder import Embedder
from pocketchat.engine.gguf_check import BadModelFile
from pocketchat.engine.llama import LlamaError
from pocketchat.presets import (
    EMBEDDING_ACTIVE_FILE_NAME,
    EMBEDDING_PRESETS,
    PRESETS,
    Preset,
    preset_path,
    read_active,
)
from pocketchat.settings import Settings

log = logging.getLogger(__name__)


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
    preset = PRESETS[settings.preset]
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


def load_embedder(settings: Settings) -> tuple[Embedder | None, str | None]:
    """EMBEDDING_MODEL_PATH, else the preset's file, else the downloader's recorded fallback; or
    no embedder and why: chat is served without one, /v1/embeddings then answers 503."""
    preset = EMBEDDING_PRESETS[settings.embedding_preset]
    path = settings.embedding_model_path
    if path is None:
        path = preset_path(settings.models_dir, preset)
        active = read_active(settings.models_dir, EMBEDDING_ACTIVE_FILE_NAME)
        served = EMBEDDING_PRESETS.get(str(active.get("served"))) if active else None
        if not path.is_file() and active and served and active.get("requested") == preset.name:
            log.warning(
                "!!! embedding with the OFFLINE FALLBACK %s instead of %s: %s",
                served.name, preset.name, active.get("reason", "it could not be fetched"),
            )  # fmt: skip
            preset, path = served, preset_path(settings.models_dir, served)
        if not path.is_file():
            return None, (
                f"no embedding model: {path} is missing; run `python scripts/download_model.py "
                f"--embedding` (or `make run`), or set EMBEDDING_MODEL_PATH to a GGUF file"
            )
    # A file of the user's has no preset: no prefixes, its own context length.
    profile: Preset | None = preset if settings.embedding_model_path is None else None
    try:
        embedder = Embedder(
            path.expanduser(),
            n_threads=settings.embedding_threads or settings.n_threads,
            max_tokens=profile.max_tokens if profile else None,
            query_prefix=profile.query_prefix if profile else "",
            passage_prefix=profile.passage_prefix if profile else "",
            languages=profile.languages if profile else None,
            use_mmap=settings.use_mmap,
        )
    except (BadModelFile, LlamaError, OSError) as error:
        log.error("cannot embed with %s: %s", path, error)
        return None, f"the embedding model {path} cannot be used: {error}"
    return embedder, None
