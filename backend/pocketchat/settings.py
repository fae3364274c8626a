"""The one typed settings object: every knob is an environment variable, validated once at start.

Each field's description feeds `python -m pocketchat --help` and the README's configuration table.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

import psutil
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pocketchat.chat_templates import BUILT_IN as BUILT_IN_TEMPLATES
from pocketchat.chat_templates import OWN as OWN_TEMPLATE
from pocketchat.presets import (
    DEFAULT_EMBEDDING_PRESET,
    DEFAULT_PRESET,
    EMBEDDING_PRESETS,
    PRESETS,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def physical_cores() -> int:
    """Physical cores, never logical ones: a decode thread per hyper-thread collapses throughput."""
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def default_parallel() -> int:
    """Slots that share the batch: measured 2.5x total tokens/s for 4 streams on 2 cores."""
    total_gib = psutil.virtual_memory().total / 2**30
    if total_gib < 2:
        return 1
    if total_gib < 4:
        return 2
    return min(8, max(2, 2 * physical_cores()))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=None,
        case_sensitive=False,
        extra="ignore",
        validate_default=True,
        validate_by_name=True,
    )

    # The variable is MODEL, as users know it; in code `preset`, because "model" names the
    # file, the llama.cpp object and the served id elsewhere.
    preset: str = Field(
        DEFAULT_PRESET,
        validation_alias="MODEL",
        description=f"Model preset to serve ({', '.join(PRESETS)}); MODEL_PATH overrides it.",
    )
    model_path: Path | None = Field(None, description="Serve this GGUF file instead of a preset.")
    chat_template: str = Field(
        OWN_TEMPLATE,
        description="The chat template: `gguf` (the model file's own), `chatml-tools` (ChatML "
        "with tools, for ChatML models whose own template has none, such as SmolLM2's), or "
        "the path of a Jinja file.",
    )
    models_dir: Path = Field(REPO_ROOT / "models", description="Where presets are stored.")
    embedding_preset: str = Field(
        DEFAULT_EMBEDDING_PRESET,
        validation_alias="EMBEDDING_MODEL",
        description=f"Embedding model preset ({', '.join(EMBEDDING_PRESETS)}) for /v1/embeddings "
        "and the knowledge base; EMBEDDING_MODEL_PATH overrides it.",
    )
    embedding_model_path: Path | None = Field(
        None, description="Embed with this GGUF file instead of a preset."
    )
    embedding_threads: int | None = Field(
        None, ge=1, description="Threads of the embedding model (default: N_THREADS)."
    )
    host: str = Field("127.0.0.1", description="Address to bind. Non-loopback needs API_KEY.")
    port: int = Field(8000, ge=1, le=65535, description="Port to listen on.")
    api_key: SecretStr | None = Field(
        None, description="Require `Authorization: Bearer <key>` on everything but /api/health."
    )
    allow_no_auth: bool = Field(
        False, description="Allow a non-loopback HOST without API_KEY (you put auth in front)."
    )
    cors_origins: str = Field(
        "", description="Comma-separated origins allowed by CORS; empty means no CORS headers."
    )
    n_threads: int = Field(
        default_factory=physical_cores,
        ge=1,
        description="Decode threads (default: physical cores; more collapses throughput).",
    )
    n_threads_batch: int | None = Field(
        None, ge=1, description="Prompt-processing threads (default: N_THREADS)."
    )
    n_ctx: int = Field(4096, ge=256, le=131072, description="Context window of one conversation.")
    n_batch: int = Field(
        512, ge=32, le=8192, description="Tokens per decode call (prompt chunk size)."
    )
    n_ubatch: int = Field(512, ge=32, le=8192, description="Physical micro-batch size.")
    parallel: int = Field(
        default_factory=default_parallel,
        ge=1,
        le=64,
        description="Conversations decoded together in one batch (default from cores and memory).",
    )
    max_queue: int = Field(
        16, ge=0, le=10000, description="Requests allowed to wait; more get 429."
    )
    use_mmap: bool = Field(True, description="Map the model file instead of reading it.")
    use_mlock: bool = Field(False, description="Lock the model in RAM (needs RLIMIT_MEMLOCK).")
    max_body_bytes: int = Field(
        1_000_000, ge=1024, description="Largest accepted request body, in bytes."
    )
    default_max_tokens: int | None = Field(
        None, ge=1, description="Reply budget when a request gives none (default: N_CTX / 4)."
    )
    heartbeat_seconds: float = Field(
        5.0, gt=0, le=300, description="SSE keep-alive comment interval while a request waits."
    )
    data_dir: Path = Field(
        REPO_ROOT / "data", description="Where the server keeps its data (the knowledge base)."
    )
    kv_cache_ram_mb: int | None = Field(
        None,
        ge=0,
        description="RAM for the KV caches of conversations that lost their slot, so they come "
        "back without reading their history again (default: 0 while KV_CACHE_DISK_MB is on, "
        "whose recent files the page cache holds; else a tenth of free memory, at most 2048).",
    )
    kv_cache_disk_mb: int | None = Field(
        None,
        ge=0,
        description="Disk for those caches under DATA_DIR/kv-cache; they survive a restart "
        "(default: a tenth of free disk, at most 4096; 0: off).",
    )
    knowledge_db_url: str | None = Field(
        None,
        description="The knowledge base's store: `postgresql://…` to share one between replicas "
        "(default: the SQLite file DATA_DIR/knowledge.db).",
    )
    max_upload_bytes: int = Field(
        20_000_000, ge=1024, description="Largest document accepted for the knowledge base."
    )
    static_dir: Path = Field(
        REPO_ROOT / "frontend" / "dist", description="The built web app served at /."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log verbosity."
    )

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in PRESETS:
            raise ValueError(f"unknown preset {value!r}; known: {', '.join(PRESETS)}")
        return value

    @field_validator("chat_template")
    @classmethod
    def _known_template(cls, value: str) -> str:
        if value != OWN_TEMPLATE and value not in BUILT_IN_TEMPLATES and not Path(value).is_file():
            known = ", ".join([OWN_TEMPLATE, *BUILT_IN_TEMPLATES])
            raise ValueError(f"{value!r} is neither a template ({known}) nor a file")
        return value

    @field_validator("embedding_preset")
    @classmethod
    def _known_embedding_preset(cls, value: str) -> str:
        if value not in EMBEDDING_PRESETS:
            raise ValueError(f"unknown preset {value!r}; known: {', '.join(EMBEDDING_PRESETS)}")
        return value

    @model_validator(mode="after")
    def _secure_bind(self) -> Settings:
        if not self.api_key and not self.allow_no_auth and not is_loopback(self.host):
            raise ValueError(
                f"HOST={self.host} is reachable from other machines but API_KEY is not set; "
                "set API_KEY, or ALLOW_NO_AUTH=1 if something in front already checks access"
            )
        if self.n_ubatch > self.n_batch:
            raise ValueError("N_UBATCH cannot be larger than N_BATCH")
        return self

    @property
    def reply_budget(self) -> int:
        return self.default_max_tokens or self.n_ctx // 4

    @property
    def kv_cache_bytes(self) -> tuple[int, int]:
        """The RAM and disk bounds of the kept KV caches, in bytes (defaults from what is free)."""
        disk_mb = self.kv_cache_disk_mb
        if disk_mb is None:
            disk_mb = min(4096, _free_disk(self.data_dir) // 10 // 2**20)
        ram_mb = self.kv_cache_ram_mb
        if ram_mb is None:
            ram_mb = 0 if disk_mb else min(2048, psutil.virtual_memory().available // 10 // 2**20)
        return ram_mb * 2**20, disk_mb * 2**20

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]


def _free_disk(directory: Path) -> int:
    """Free bytes on the disk that holds `directory` (or would: its nearest existing parent)."""
    for candidate in (directory, *directory.resolve().parents):
        if candidate.exists():
            return psutil.disk_usage(str(candidate)).free
    return 0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
