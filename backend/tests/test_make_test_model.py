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


@pytest.fixture(scope="module")
def tiny_qwen3_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_model.write_test_model(
        "tiny-qwen3", tmp_path_factory.mktemp("model") / "tiny-qwen3.gguf"
    )


@pytest.fixture(scope="module")
def tiny_qwen3_llm(tiny_qwen3_path: Path) -> Iterator[Any]:
    llm = llama_cpp.Llama(str(tiny_qwen3_path), n_ctx=2048, n_threads=2, verbose=False)
    yield llm
    llm.close()


@pytest.mark.parametrize(
    ("shape", "architecture", "template_mark"),
    [("tiny", "qwen2", "You are Qwen"), ("tiny-qwen3", "qwen3", "enable_thinking")],
)
def test_file_has_the_qwen_layout(
    shape: str, architecture: str, template_mark: str, tmp_path: Path
) -> None:
    path = make_test_model.write_test_model(shape, tmp_path / f"{shape}.gguf")
    reader = gguf.GGUFReader(path)
    vocab = make_test_model.build_vocabulary(make_test_model.SHAPES[shape])
    fields = {
        "arch": reader.fields["general.architecture"].contents(),
        "pre": reader.fields["tokenizer.ggml.pre"].contents(),
        "eos": reader.fields["tokenizer.ggml.eos_token_id"].contents(),
        "template": template_mark in reader.fields["tokenizer.chat_template"].contents(),
        "tied": all(tensor.name != "output.weight" for tensor in reader.tensors),
    }
    assert fields == {
        "arch": architecture,
        "pre": "qwen2",
        "eos": vocab.id_of("<|im_end|>"),
        "template": True,
        "tied": True,
    }


def test_qwen3_model_runs_to_max_tokens(tiny_qwen3_llm: Any) -> None:
    """llama.cpp's qwen3 graph takes the per-head q and k norms and a head size that is not
    n_embd / n_head (32, not 16), as Qwen3-0.6B's 128 is not 1024 / 16."""
    messages = [{"role": "user", "content": "你好！Tell me about the cat."}]
    reply = tiny_qwen3_llm.create_chat_completion(messages, max_tokens=32, temperature=0)
    assert reply["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize("marker", make_test_model.THINK_TOKENS)
def test_think_markers_are_single_plain_tokens(tiny_qwen3_llm: Any, marker: str) -> None:
    """As in Qwen3, <think> is an added token, not a control one: text holding it yields the
    token even when control tokens are not parsed."""
    vocab = make_test_model.build_vocabulary(make_test_model.SHAPES["tiny-qwen3"])
    tokens = tiny_qwen3_llm.tokenize(marker.encode(), add_bos=False, special=False)
    assert tokens == [vocab.id_of(marker)]


@pytest.mark.parametrize(
    ("shape", "ids"),
    [
        ("qwen3-0.6b", (151643, 151644, 151645, 151667, 151668)),
        ("tiny-qwen3", (635, 636, 637, 638, 639)),
    ],
)
def test_qwen3_special_tokens_keep_their_ids(shape: str, ids: tuple[int, ...]) -> None:
    vocab = make_test_model.build_vocabulary(make_test_model.SHAPES[shape])
    specials = (*make_test_model.CONTROL_TOKENS, *make_test_model.THINK_TOKENS)
    assert tuple(vocab.id_of(token) for token in specials) == ids


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


@pytest.mark.parametrize(
    ("shape", "parameters"),
    [
        ("qwen2.5-0.5b", 494_032_768),
        ("qwen2.5-1.5b", 1_543_714_304),
        ("qwen3-0.6b", 596_049_920),
        ("qwen3-1.7b", 1_720_574_976),
    ],
)
def test_shapes_have_the_parameter_counts_of_the_real_models(shape: str, parameters: int) -> None:
    """The models' own counts, tied embeddings once: Qwen2.5's safetensors state 494,032,768 and
    1,543,714,304; Qwen3's hold a second copy of the tied embedding (751,632,384 and
    2,031,739,904 less 151,936 rows of 1024 and 2048)."""
    shapes = make_test_model._tensor_shapes(make_test_model.SHAPES[shape])
    assert sum(int(np.prod(dims)) for _, dims in shapes) == parameters


def test_cli_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "models" / "tiny.gguf"
    assert (make_test_model.main(["--shape", "tiny", "--out", str(out)]), out.is_file()) == (
        0,
        True,
    )
