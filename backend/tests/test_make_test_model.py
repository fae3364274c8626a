"""The generated test models: real GGUF files that llama.cpp loads, tokenizes and runs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gguf
import llama_cpp
import make_test_model
import numpy as np
import pytest


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_model.write_test_model("tiny", tmp_path_factory.mktemp("model") / "tiny.gguf")


@pytest.fixture(scope="module")
def tiny_llm(tiny_path: Path) -> Iterator[Any]:
    llm = llama_cpp.Llama(str(tiny_path), n_ctx=2048, n_threads=2, verbose=False)
    yield llm
    llm.close()


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "Hello!"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "你好，世界"}],
        [
            {"role": "user", "content": "Tell me a story about a cat."},
            {"role": "assistant", "content": "Once upon a time"},
            {"role": "user", "content": "Go on."},
        ],
    ],
)
def test_greedy_reply_runs_to_max_tokens(tiny_llm: Any, messages: list[dict[str, str]]) -> None:
    """Zero embedding rows keep <|im_end|> from ever winning: a reply ends by length, never stop.
    (llama-cpp-python may decode a token or two past max_tokens to finish a UTF-8 character.)"""
    reply = tiny_llm.create_chat_completion(messages, max_tokens=48, temperature=0)
    assert reply["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world!",
        "你好，世界！我们一起学习。",
        "emoji 🙂 and tabs\tand\nnewlines",
        "  the answer is 42",
    ],
)
def test_tokenizer_round_trips_text(tiny_llm: Any, text: str) -> None:
    tokens = tiny_llm.tokenize(text.encode(), add_bos=False, special=False)
    assert tiny_llm.detokenize(tokens).decode() == text


@pytest.mark.parametrize("control", make_test_model.CONTROL_TOKENS)
def test_control_tokens_are_single_special_tokens(tiny_llm: Any, control: str) -> None:
    tokens = tiny_llm.tokenize(control.encode(), add_bos=False, special=True)
    vocab = make_test_model.build_vocabulary(make_test_model.SHAPES["tiny"])
    assert tokens == [vocab.id_of(control)]


def test_file_has_the_qwen2_layout(tiny_path: Path) -> None:
    reader = gguf.GGUFReader(tiny_path)
    vocab = make_test_model.build_vocabulary(make_test_model.SHAPES["tiny"])
    fields = {
        "arch": reader.fields["general.architecture"].contents(),
        "pre": reader.fields["tokenizer.ggml.pre"].contents(),
        "eos": reader.fields["tokenizer.ggml.eos_token_id"].contents(),
        "has_template": "add_generation_prompt"
        in reader.fields["tokenizer.chat_template"].contents(),
        "tied": all(tensor.name != "output.weight" for tensor in reader.tensors),
    }
    assert fields == {
        "arch": "qwen2",
        "pre": "qwen2",
        "eos": vocab.id_of("<|im_end|>"),
        "has_template": True,
        "tied": True,
    }


def test_control_token_embeddings_are_zero(tiny_path: Path) -> None:
    reader = gguf.GGUFReader(tiny_path)
    embedding = next(t for t in reader.tensors if t.name == "token_embd.weight").data
    vocab = make_test_model.build_vocabulary(make_test_model.SHAPES["tiny"])
    control_rows = [vocab.id_of(token) for token in make_test_model.CONTROL_TOKENS]
    assert not np.any(embedding[control_rows]) and np.all(np.any(embedding[:256], axis=1))


def test_writes_are_deterministic_and_leave_no_temporary_files(tmp_path: Path) -> None:
    first = make_test_model.write_test_model("tiny", tmp_path / "a" / "tiny.gguf")
    second = make_test_model.write_test_model("tiny", tmp_path / "b" / "tiny.gguf")
    digests = {hashlib.sha256(path.read_bytes()).hexdigest() for path in (first, second)}
    assert (len(digests), sorted(p.name for p in tmp_path.rglob("*") if p.is_file())) == (
        1,
        ["tiny.gguf", "tiny.gguf"],
    )


def test_qwen_shape_has_the_parameter_count_of_qwen25_05b() -> None:
    """494,032,768 parameters: Qwen2.5-0.5B-Instruct's own count, embeddings included."""
    shapes = make_test_model._tensor_shapes(make_test_model.SHAPES["qwen2.5-0.5b"])
    assert sum(int(np.prod(dims)) for _, dims in shapes) == 494_032_768


def test_cli_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "models" / "tiny.gguf"
    assert (make_test_model.main(["--shape", "tiny", "--out", str(out)]), out.is_file()) == (
        0,
        True,
    )
