"""Embeddings by llama.cpp: the converted MiniLM against a numpy BERT, batching, truncation, and
POST /v1/embeddings through the official openai client."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import openai
import pytest
from conftest import LiveServer
from flask.testing import FlaskClient
from pocketchat.engine.embedder import Embedder

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "报销流程需要部门经理批准。",
    "Hotels are reimbursed up to 150 EUR per night, breakfast included.",
]


@pytest.fixture(scope="module")
def embedder(embedding_model: Path) -> Iterator[Embedder]:
    embedder = Embedder(embedding_model, n_threads=2, max_tokens=256)
    yield embedder
    embedder.close()


def numpy_bert(weights: dict[str, np.ndarray], tokens: list[int]) -> np.ndarray:
    """BERT's forward pass and mean pooling, in float32 numpy (what sentence-transformers runs)."""

    def norm(x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * weights[name + ".weight"] + weights[
            name + ".bias"
        ]

    def linear(x: np.ndarray, name: str) -> np.ndarray:
        return x @ weights[name + ".weight"].T + weights[name + ".bias"]

    erf = np.vectorize(math.erf)
    x = weights["token_embd.weight"][tokens] + weights["position_embd.weight"][: len(tokens)]
    x = norm(x + weights["token_types.weight"][0], "token_embd_norm")
    heads, layer = 12, 0
    while f"blk.{layer}.attn_q.weight" in weights:
        block = f"blk.{layer}."
        n, width = x.shape
        q, k, v = (
            linear(x, block + part).reshape(n, heads, -1).transpose(1, 0, 2)
            for part in ("attn_q", "attn_k", "attn_v")
        )
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(width // heads)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        attended = (scores @ v).transpose(1, 0, 2).reshape(n, width)
        x = norm(x + linear(attended, block + "attn_output"), block + "attn_output_norm")
        hidden = linear(x, block + "ffn_up")
        hidden = 0.5 * hidden * (1 + erf(hidden / math.sqrt(2)))
        x = norm(x + linear(hidden, block + "ffn_down"), block + "layer_output_norm")
        layer += 1
    pooled = x.mean(0)
    return np.asarray(pooled / np.linalg.norm(pooled))


def test_vectors_match_a_numpy_bert_over_the_same_weights(
    embedder: Embedder, embedding_model: Path
) -> None:
    weights = {
        tensor.name: np.array(tensor.data, dtype=np.float32)
        for tensor in gguf.GGUFReader(embedding_model).tensors
    }
    vectors = np.array(embedder.embed(SENTENCES).vectors)
    reference = np.array([numpy_bert(weights, embedder.tokens(text)) for text in SENTENCES])
    assert np.einsum("ij,ij->i", vectors, reference).min() > 0.9999


def test_tokens_are_bert_wordpieces(embedder: Embedder) -> None:
    # bert-base-uncased's ids for "[CLS] hello world [SEP]", as Hugging Face's tokenizer gives them
    assert embedder.tokens("Hello world") == [101, 7592, 2088, 102]


def test_related_sentences_score_higher(embedder: Embedder) -> None:
    eating, bread, baby = (np.array(v) for v in embedder.embed(SENTENCES[:3]).vectors)
    assert eating @ bread > 0.6 > 0.2 > eating @ baby


def test_batched_vectors_equal_one_by_one(embedder: Embedder) -> None:
    texts = SENTENCES * 30  # several encodes of many sequences each
    batched = np.array(embedder.embed_passages(texts))
    single = np.array([embedder.embed_passages([text])[0] for text in SENTENCES])
    # Measured: up to 1.1e-4 apart per component (cosine 0.999999): a 512-token batch takes
    # ggml's batched F16 matmul path where one short text does not, so sums round differently.
    assert np.abs(batched - np.tile(single, (30, 1))).max() < 2e-4


def test_long_texts_are_cut_not_refused(embedder: Embedder) -> None:
    long_text = "word " * 2000
    embedded = embedder.embed([long_text, "short"])
    assert (
        embedded.truncated,
        len(embedder.tokens(long_text)),
        embedder.count_tokens(long_text) > embedder.max_tokens,
        len(embedded.vectors),
    ) == (1, 256, True, 2)


@pytest.fixture
def embedding_server(
    live_server: Callable[..., LiveServer], tiny_model: Path, embedding_model: Path
) -> LiveServer:
    return live_server(tiny_model, embedding_model_path=embedding_model)


# Without encoding_format the client asks for base64 and decodes it; with it, it returns the
# field as the server sent it.
@pytest.mark.parametrize(
    "fields", [{}, {"encoding_format": "float"}, {"encoding_format": "base64"}]
)
def test_openai_client_gets_normalized_vectors(
    embedding_server: LiveServer, fields: dict[str, Any]
) -> None:
    client = openai.OpenAI(base_url=embedding_server.url + "/v1", api_key="none")
    result = client.embeddings.create(model="any", input=SENTENCES[:2], **fields)
    vectors = np.array(
        [
            np.frombuffer(base64.b64decode(item.embedding), dtype="<f4")
            if isinstance(item.embedding, str)
            else item.embedding
            for item in result.data
        ]
    )
    assert (vectors.shape, np.linalg.norm(vectors, axis=1).round(4).tolist()) == (
        (2, 384),
        [1.0, 1.0],
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": []}, "input"),
        ({"input": ""}, "input"),
        ({"input": ["ok", ""]}, "input"),
        ({"input": ["x"] * 2049}, "input"),
        ({"input": 5}, "input"),
        ({"input": [1, 2, 3]}, "input"),
        ({"input": [[1, 2], [3]]}, "input"),
        ({"input": ["ok", 3]}, "input"),
        ({}, "input"),
        ({"input": "ok", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "ok", "dimensions": 128}, "dimensions"),
        ({"input": "ok", "model": 3}, "model"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    embedding_server: LiveServer, body: dict[str, Any], param: str
) -> None:
    import requests

    response = requests.post(f"{embedding_server.url}/v1/embeddings", json=body, timeout=30)
    assert (response.status_code, response.json()["error"]["param"]) == (400, param)


def test_without_an_embedding_model_chat_serves_and_embeddings_say_why(
    client: FlaskClient, tmp_path: Path
) -> None:
    from conftest import build_app
    from pocketchat.runtime import loader_of

    app = build_app(client.application.extensions["pocketchat"].settings.model_path,
                    models_dir=tmp_path)  # fmt: skip
    try:
        response = app.test_client().post("/v1/embeddings", json={"input": "hello"})
        assert (
            response.status_code,
            "no embedding model" in response.json["error"]["message"],
        ) == (
            503,
            True,
        )
        assert loader_of(app).ready
    finally:
        loader_of(app).shutdown()


def _mapped(path: Path, pid: int) -> bool:
    """Whether process `pid` has `path` mapped (its weights, with mmap)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return str(path.resolve()) in maps


def test_weights_are_held_from_the_first_text_embedded_on(
    embedding_model: Path, embedder: Embedder
) -> None:
    lazy = Embedder(embedding_model, n_threads=2, max_tokens=256)
    try:
        # Counting and tokenizing (chunking a document) need the vocabulary only.
        before = (lazy.loaded, lazy.dimensions, lazy.count_tokens(SENTENCES[0]),
                  lazy.tokens(SENTENCES[3]))  # fmt: skip
        vectors = lazy.embed(SENTENCES).vectors
        assert before == (False, 384, embedder.count_tokens(SENTENCES[0]),
                          embedder.tokens(SENTENCES[3]))  # fmt: skip
        assert lazy.loaded
        assert np.allclose(vectors, embedder.embed(SENTENCES).vectors, atol=1e-5)
    finally:
        lazy.close()
    with pytest.raises(RuntimeError, match="closed"):
        lazy.embed(["after close"])


def test_a_server_that_only_chats_does_not_hold_the_embedding_model(
    server_process: Callable[..., Any], tiny_model: Path, embedding_model: Path
) -> None:
    import requests

    server = server_process(tiny_model, EMBEDDING_MODEL_PATH=str(embedding_model))
    chat = requests.post(
        f"{server.url}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4},
        timeout=60,
    )
    held_while_chatting = _mapped(embedding_model, server.process.pid)
    embedded = requests.post(f"{server.url}/v1/embeddings", json={"input": "hello"}, timeout=60)
    assert (chat.status_code, held_while_chatting, embedded.status_code) == (200, False, 200)
    assert _mapped(embedding_model, server.process.pid)
