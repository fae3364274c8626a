"""The embedding ceiling: llama.cpp embedding texts through llama-cpp-python's ctypes API alone.

Run by the knowledge bench (`python -m bench.embed_raw`) in its own process, with the same
threads and batch shape as pocketchat's Embedder (512 tokens per llama_encode, at most 64
sequences, one unified pool); reads a JSON list of texts on stdin and prints one JSON object
on stdout: seconds per repetition (tokenizing included, as the product's request includes it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import llama_cpp.llama_cpp as llama
from pocketchat.engine.embedder import DEFAULT_BATCH_TOKENS as BATCH_TOKENS
from pocketchat.engine.embedder import MAX_SEQUENCES, batch_spans


def tokenize(vocab: llama.llama_vocab_p, text: str) -> list[int]:
    """With the model's special tokens ([CLS] … [SEP]), as the product embeds a text."""
    data = text.encode()
    tokens = (llama.llama_token * (len(data) + 8))()
    count = llama.llama_tokenize(vocab, data, len(data), tokens, len(tokens), True, False)
    return list(tokens[:count])


def embed_all(
    ctx: llama.llama_context_p, batch: Any, token_lists: list[list[int]], dims: int
) -> list[list[float]]:
    memory = llama.llama_get_memory(ctx)
    vectors: list[list[float]] = []
    # The product's own packing rule, so both sides decode the same batches.
    lengths = [len(tokens) for tokens in token_lists]
    for start, end in batch_spans(lengths, max_sequences=MAX_SEQUENCES, max_tokens=BATCH_TOKENS):
        batch.n_tokens = 0
        for seq, tokens in enumerate(token_lists[start:end]):
            for pos, token in enumerate(tokens):
                i = batch.n_tokens
                batch.token[i] = token
                batch.pos[i] = pos
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = True
                batch.n_tokens += 1
        llama.llama_memory_clear(memory, True)
        if llama.llama_encode(ctx, batch) != 0:
            raise SystemExit("llama_encode failed")
        for seq in range(end - start):
            pointer = llama.llama_get_embeddings_seq(ctx, seq)
            vectors.append(pointer[:dims])
    return vectors


def run(model_path: Path, threads: int, reps: int, texts: list[str]) -> dict[str, object]:
    params = llama.llama_model_default_params()
    params.n_gpu_layers = 0
    model = llama.llama_model_load_from_file(str(model_path).encode(), params)
    if not model:
        raise SystemExit(f"llama.cpp could not load {model_path}")
    context_params = llama.llama_context_default_params()
    context_params.n_ctx = context_params.n_batch = context_params.n_ubatch = BATCH_TOKENS
    context_params.n_seq_max = MAX_SEQUENCES
    context_params.n_threads = context_params.n_threads_batch = threads
    context_params.embeddings = True
    context_params.kv_unified = True
    context_params.no_perf = True
    ctx = llama.llama_init_from_model(model, context_params)
    vocab = llama.llama_model_get_vocab(model)
    dims = llama.llama_model_n_embd(model)
    batch = llama.llama_batch_init(BATCH_TOKENS, 0, 1)
    seconds = []
    try:
        for _ in range(reps):
            started = time.perf_counter()
            token_lists = [tokenize(vocab, text) for text in texts]
            embed_all(ctx, batch, token_lists, dims)
            seconds.append(time.perf_counter() - started)
    finally:
        llama.llama_batch_free(batch)
        llama.llama_free(ctx)
        llama.llama_model_free(model)
    return {
        "seconds": seconds,
        "texts": len(texts),
        "tokens": sum(len(tokens) for tokens in token_lists),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.embed_raw", description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args(argv)
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    llama.llama_backend_init()
    texts = json.loads(sys.stdin.read())
    json.dump(run(args.model, args.threads, args.reps, texts), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
