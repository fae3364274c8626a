"""The ceiling: llama.cpp driven directly through llama-cpp-python's ctypes API, no server.

Run by the bench (`python -m bench.raw`) in its own process, so its peak RSS is its own and it
shares no memory with the server; prints one JSON object on stdout. Greedy sampling,
end-of-generation ignored, so every run decodes exactly the asked number of tokens.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import llama_cpp
import llama_cpp.llama_cpp as llama

from bench.server import peak_rss_of

# Any text does: only the token count matters for speed, and real text gives real token ids.
FILLER_TEXT = (
    "The harbour town woke slowly. Fishing boats came back with the tide, gulls argued over "
    "the nets, and the baker opened her shutters to a queue of sleepy sailors. In the square "
    "an old clock, wrong by eleven minutes since anyone could remember, struck seven. "
    "Children ran past the fountain towards the school on the hill, where the teacher was "
    "already writing the day's lesson about rivers, rain and the long journey of water. "
)


class Runner:
    def __init__(self, model_path: Path, threads: int, n_batch: int, n_ubatch: int) -> None:
        self.threads, self.n_batch, self.n_ubatch = threads, n_batch, n_ubatch
        params = llama.llama_model_default_params()
        params.n_gpu_layers = 0
        params.load_mode = llama.LLAMA_LOAD_MODE_MMAP
        self.model = llama.llama_model_load_from_file(str(model_path).encode(), params)
        if not self.model:
            raise SystemExit(f"llama.cpp could not load {model_path}")
        self.vocab = llama.llama_model_get_vocab(self.model)
        self.ctx: llama.llama_context_p | None = None
        self.sampler = llama.llama_sampler_chain_init(llama.llama_sampler_chain_default_params())
        llama.llama_sampler_chain_add(self.sampler, llama.llama_sampler_init_greedy())
        self.batch = llama.llama_batch_init(max(n_batch, 8), 0, 1)
        self.text_tokens = self.tokenize(FILLER_TEXT * 8)

    def open_context(self, n_ctx: int, n_seq: int, *, kv_unified: bool) -> None:
        self.close_context()
        params = llama.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = self.n_batch
        params.n_ubatch = self.n_ubatch
        params.n_seq_max = n_seq
        params.n_threads = self.threads
        params.n_threads_batch = self.threads
        params.kv_unified = kv_unified
        params.no_perf = True
        self.ctx = llama.llama_init_from_model(self.model, params)
        if not self.ctx:
            raise SystemExit(f"llama.cpp could not create a context of {n_ctx} tokens")
        self.memory = llama.llama_get_memory(self.ctx)

    def close_context(self) -> None:
        if self.ctx:
            llama.llama_free(self.ctx)
            self.ctx = None

    def close(self) -> None:
        self.close_context()
        llama.llama_batch_free(self.batch)
        llama.llama_sampler_free(self.sampler)
        llama.llama_model_free(self.model)

    def tokenize(self, text: str) -> list[int]:
        return tokenize(self.vocab, text)

    def prompt(self, length: int, offset: int = 0) -> list[int]:
        """`length` real-text tokens from `offset` on: different offsets share no prefix."""
        source = self.text_tokens
        return [source[(offset + i) % len(source)] for i in range(length)]

    def model_facts(self, model_path: Path) -> dict[str, object]:
        n_layer = llama.llama_model_n_layer(self.model)
        n_head = llama.llama_model_n_head(self.model)
        n_head_kv = llama.llama_model_n_head_kv(self.model)
        n_embd = llama.llama_model_n_embd(self.model)
        desc = ctypes.create_string_buffer(256)
        llama.llama_model_desc(self.model, desc, len(desc))
        return {
            "path": str(model_path),
            "file_bytes": model_path.stat().st_size,
            "weights_bytes": int(llama.llama_model_size(self.model)),
            "n_params": int(llama.llama_model_n_params(self.model)),
            "description": desc.value.decode(errors="replace"),
            "n_layer": n_layer,
            "n_head": n_head,
            "n_head_kv": n_head_kv,
            "head_dim": n_embd // max(1, n_head),
            "n_vocab": llama.llama_vocab_n_tokens(self.vocab),
        }

    def decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """One llama_decode of (token, position, sequence, wants_logits) entries."""
        batch = self.batch
        for index, (token, pos, seq, logits) in enumerate(entries):
            batch.token[index] = token
            batch.pos[index] = pos
            batch.n_seq_id[index] = 1
            batch.seq_id[index][0] = seq
            batch.logits[index] = logits
        batch.n_tokens = len(entries)
        status = llama.llama_decode(self.ctx, batch)
        if status != 0:
            raise SystemExit(f"llama_decode returned {status}")

    def prefill(self, tokens: list[int], start: int, seq: int = 0) -> int:
        """Decode `tokens` at `start`.. in n_batch chunks; returns the greedy next token."""
        for chunk_start in range(0, len(tokens), self.n_batch):
            chunk = tokens[chunk_start : chunk_start + self.n_batch]
            last = chunk_start + len(chunk) == len(tokens)
            self.decode(
                [
                    (token, start + chunk_start + i, seq, last and i == len(chunk) - 1)
                    for i, token in enumerate(chunk)
                ]
            )
        return int(llama.llama_sampler_sample(self.sampler, self.ctx, -1))

    def time_prefill(self, past: int, new: int) -> float:
        """Seconds to read `new` tokens after `past` cached ones and pick the first reply token."""
        llama.llama_memory_clear(self.memory, True)
        if past:
            self.prefill(self.prompt(past), 0)
        started = time.perf_counter()
        self.prefill(self.prompt(new, offset=past), past)
        return time.perf_counter() - started

    def time_decode(self, n_seq: int, prompt_tokens: int, new_tokens: int) -> float:
        """Decode tokens/s summed over `n_seq` sequences stepped together in one batch."""
        llama.llama_memory_clear(self.memory, True)
        nexts = [
            self.prefill(self.prompt(prompt_tokens, offset=seq * 37), 0, seq)
            for seq in range(n_seq)
        ]
        started = time.perf_counter()
        for step in range(new_tokens):
            pos = prompt_tokens + step
            self.decode([(token, pos, seq, True) for seq, token in enumerate(nexts)])
            nexts = [
                int(llama.llama_sampler_sample(self.sampler, self.ctx, s)) for s in range(n_seq)
            ]
        return n_seq * new_tokens / (time.perf_counter() - started)


def tokenize(vocab: llama.llama_vocab_p, text: str) -> list[int]:
    """Text as plain text (no control tokens, no BOS)."""
    data = text.encode()
    tokens = (llama.llama_token * (len(data) + 8))()
    count = llama.llama_tokenize(vocab, data, len(data), tokens, len(tokens), False, False)
    return list(tokens[:count])


@contextmanager
def vocabulary(model_path: Path) -> Iterator[llama.llama_vocab_p]:
    """A model's vocabulary alone (no weights), for sizing prompts in its tokens."""
    llama.llama_backend_init()
    params = llama.llama_model_default_params()
    params.vocab_only = True
    model = llama.llama_model_load_from_file(str(model_path).encode(), params)
    if not model:
        raise SystemExit(f"llama.cpp could not read the vocabulary of {model_path}")
    try:
        yield llama.llama_model_get_vocab(model)
    finally:
        llama.llama_model_free(model)


def fit_words(vocab: llama.llama_vocab_p, text: str, max_tokens: int) -> str:
    """The longest run of whole words from `text` (repeated as needed) within `max_tokens`.

    Sizes the bench's prompts in tokens of the model at hand: the random-weight test model's
    tokenizer has few merges and needs about 3x the tokens of real Qwen for the same text.
    """
    words = text.split()
    fitted = words[0]
    for index in range(1, 100 * len(words)):
        candidate = f"{fitted} {words[index % len(words)]}"
        if len(tokenize(vocab, candidate)) > max_tokens:
            break
        fitted = candidate
    return fitted


def run(args: argparse.Namespace) -> dict[str, object]:
    results: dict[str, object] = {"llama_cpp_python": llama_cpp.__version__}
    load_seconds = []
    runner = None
    for _ in range(args.reps):
        if runner is not None:
            runner.close()
        started = time.perf_counter()
        runner = Runner(args.model, args.threads, args.n_batch, args.n_ubatch)
        runner.open_context(args.n_ctx, 1, kv_unified=False)
        load_seconds.append(time.perf_counter() - started)
    assert runner is not None
    results["model"] = runner.model_facts(args.model)
    results["load_s"] = load_seconds
    results["system_info"] = llama.llama_print_system_info().decode(errors="replace").strip()
    runner.time_prefill(0, 32)  # warm-up: first-touch of weights and compute buffers
    results["prefill"] = [
        {
            "past": past,
            "new": new,
            "seconds": [runner.time_prefill(past, new) for _ in range(args.reps)],
        }
        for past, new in args.prefill_cases
    ]
    results["decode_tps"] = [
        runner.time_decode(1, args.prompt_tokens, args.decode_tokens) for _ in range(args.reps)
    ]
    results["peak_rss_single_bytes"] = peak_rss_of(os.getpid())
    # The product's layout: PARALLEL sequences, N_CTX each, in one context.
    max_seq = max(args.batch_sizes)
    runner.open_context(args.n_ctx * max_seq, max_seq, kv_unified=args.kv_unified)
    runner.time_decode(1, args.prompt_tokens, 4)
    results["batched_kv_unified"] = args.kv_unified
    results["batched_tps"] = {
        str(n_seq): [
            runner.time_decode(n_seq, args.prompt_tokens, args.batch_tokens)
            for _ in range(args.reps)
        ]
        for n_seq in args.batch_sizes
    }
    results["peak_rss_bytes"] = peak_rss_of(os.getpid())
    runner.close()
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--n-batch", type=int, default=512)
    parser.add_argument("--n-ubatch", type=int, default=512)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--prefill-cases",
        type=json.loads,
        default=[[0, 512]],
        help='JSON list of [cached tokens, new tokens] pairs, e.g. "[[0, 512], [90, 20]]"',
    )
    parser.add_argument("--prompt-tokens", type=int, default=48)
    parser.add_argument("--decode-tokens", type=int, default=128)
    parser.add_argument(
        "--batch-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8]
    )
    parser.add_argument("--batch-tokens", type=int, default=64)
    parser.add_argument("--kv-unified", action=argparse.BooleanOptionalAction, default=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # llama.cpp's load chatter
    llama.llama_backend_init()
    json.dump(run(parse_args(argv)), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
