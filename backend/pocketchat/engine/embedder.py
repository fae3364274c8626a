"""Text to vectors with a GGUF embedding model: its own llama context, batched, thread-safe.

Throughput, all-MiniLM-L6-v2 F16 on this project's 2-core machine, 2 threads, 64 chunks of 210
tokens: 34.5 chunks/s (about 7,200 tokens/s) with 512 tokens per encode, 32 with 256, 31 with
1024, 23 with 2048: past 512 the batch-wide attention costs more than the larger matmuls save.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pocketchat.engine.llama import Batch, EmbeddingContext, LlamaModel

log = logging.getLogger(__name__)

# Tokens per llama_encode. A BERT batch attends across all its tokens (the mask keeps sequences
# apart, but the products are computed), so its attention cost grows with the square of this;
# the module docstring has the measurement that chose it.
DEFAULT_BATCH_TOKENS = 512
# llama.cpp's limit on sequences in one batch is 256; far more than 1024 tokens ever hold.
MAX_SEQUENCES = 64


@dataclass(frozen=True)
class Embedded:
    vectors: list[list[float]]
    prompt_tokens: int
    truncated: int  # how many texts were cut to max_tokens


class Embedder:
    """A GGUF embedding model and its own llama context (separate from the chat engine's).

    The weights and the context are loaded at start to check the file, then let go until the
    first text is embedded: a server that only chats does not hold them (about 60 MB for
    all-MiniLM-L6-v2). Tokenizing and counting use the model's vocabulary alone.

    One lock serializes the context (a llama context is not thread-safe); tokenizing and counting
    need no lock. Vectors are L2-normalized, so a dot product is the cosine similarity.
    """

    def __init__(
        self,
        path: Path,
        *,
        n_threads: int,
        max_tokens: int | None = None,
        query_prefix: str = "",
        passage_prefix: str = "",
        languages: tuple[str, ...] | None = None,
        batch_tokens: int = DEFAULT_BATCH_TOKENS,
        use_mmap: bool = True,
    ) -> None:
        self._path, self._n_threads, self._use_mmap = path, n_threads, use_mmap
        weights = LlamaModel(path, use_mmap=use_mmap, use_mlock=False)
        try:
            # The budget of one text, tokens with [CLS]/[SEP] and prefix. A model's GGUF
            # context_length is what its position table holds (512 for MiniLM), not what it
            # was trained on: all-MiniLM-L6-v2 was tuned on 128-token pairs and
            # sentence-transformers cuts it at 256, where its quality is known. So a preset
            # states its own budget and the GGUF figure is only the ceiling. (A vocabulary-only
            # load reads 0 for it.)
            ceiling = weights.n_ctx_train
            self.max_tokens: int = min(max_tokens or ceiling, ceiling)
            self._n_tokens = max(batch_tokens, self.max_tokens)
            context = self._context_of(weights)
            self.dimensions: int = context.n_embd
            context.close()
        finally:
            weights.close()
        self.model = LlamaModel(path, use_mmap=use_mmap, use_mlock=False, vocab_only=True)
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        # Where its similarities mean something ("en", "zh"); None: any language.
        self.languages = languages
        self._batch = Batch(self._n_tokens)
        self._lock = threading.Lock()
        self._weights: LlamaModel | None = None
        self._context: EmbeddingContext | None = None
        self._closed = False

    def _context_of(self, weights: LlamaModel) -> EmbeddingContext:
        return EmbeddingContext(
            weights, n_tokens=self._n_tokens, n_seq=MAX_SEQUENCES, n_threads=self._n_threads
        )

    def _load(self) -> tuple[LlamaModel, EmbeddingContext]:
        weights = LlamaModel(self._path, use_mmap=self._use_mmap, use_mlock=False)
        try:
            return weights, self._context_of(weights)
        except Exception:
            weights.close()
            raise

    def _vocabulary(self) -> LlamaModel:
        if self._closed:
            raise RuntimeError("the embedder is closed")
        return self.model

    @property
    def loaded(self) -> bool:
        """Whether the weights and the context are in memory (since the first text embedded)."""
        return self._context is not None

    def _ready_context(self) -> EmbeddingContext:
        """The context, loaded on first use (under the lock)."""
        if self._closed:
            raise RuntimeError("the embedder is closed")
        if self._context is None:
            started = time.perf_counter()
            self._weights, self._context = self._load()
            log.info(
                "embedding model %s loaded on first use in %.0f ms",
                self._path.name, (time.perf_counter() - started) * 1000,
            )  # fmt: skip
        return self._context

    @property
    def model_id(self) -> str:
        return self.model.path.stem

    def tokens(self, text: str) -> list[int]:
        """The tokens the model sees for `text`, with its special tokens, cut to `max_tokens`
        (keeping the closing [SEP] where the model adds one)."""
        return self._cut(self._vocabulary().tokenize(text, special=False, add_bos=True))

    def _cut(self, tokens: list[int]) -> list[int]:
        if len(tokens) <= self.max_tokens:
            return tokens
        if self.model.add_eos and tokens[-1] == self.model.eos_token:
            return [*tokens[: self.max_tokens - 1], tokens[-1]]
        return tokens[: self.max_tokens]

    def count_tokens(self, text: str) -> int:
        """Tokens `text` costs as a passage (prefix and special tokens included, not cut): a
        chunk fits when this is at most `max_tokens`."""
        return len(
            self._vocabulary().tokenize(self.passage_prefix + text, special=False, add_bos=True)
        )

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return self.embed([self.passage_prefix + text for text in texts]).vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed([self.query_prefix + text]).vectors[0]

    def embed(self, texts: Sequence[str]) -> Embedded:
        """Vectors for `texts` as given (no prefix), in order; texts over `max_tokens` are cut."""
        token_lists = []
        truncated = 0
        for text in texts:
            whole = self._vocabulary().tokenize(text, special=False, add_bos=True)
            if not whole:
                raise ValueError("the embedding model makes no tokens of an empty text")
            tokens = self._cut(whole)
            truncated += len(whole) > len(tokens)
            token_lists.append(tokens)
        vectors: list[list[float]] = []
        with self._lock:
            context = self._ready_context()
            spans = batch_spans(
                [len(tokens) for tokens in token_lists],
                max_sequences=MAX_SEQUENCES,
                max_tokens=self._n_tokens,
            )
            for start, end in spans:
                vectors += self._embed_batch(context, token_lists[start:end])
        prompt_tokens = sum(len(tokens) for tokens in token_lists)
        return Embedded(normalized(vectors), prompt_tokens, truncated)

    def _embed_batch(
        self, context: EmbeddingContext, token_lists: list[list[int]]
    ) -> list[list[float]]:
        self._batch.clear()
        for seq, tokens in enumerate(token_lists):
            for pos, token in enumerate(tokens):
                self._batch.add(token, pos, seq, want_logits=True)
        return context.embed(self._batch, len(token_lists))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._context is not None and self._weights is not None:
                self._context.close()
                self._weights.close()
                self._context = self._weights = None
            self._batch.close()
            self.model.close()


def batch_spans(
    lengths: Sequence[int], *, max_sequences: int, max_tokens: int
) -> list[tuple[int, int]]:
    """Texts (by token count) packed in order into decode calls of at most `max_sequences`
    texts and `max_tokens` tokens: the [start, end) of each. A text is never over
    `max_tokens` (the caller cuts it), so every call holds at least one."""
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(lengths):
        end, used = start, 0
        while (
            end < len(lengths) and end - start < max_sequences and used + lengths[end] <= max_tokens
        ):
            used += lengths[end]
            end += 1
        spans.append((start, end))
        start = end
    return spans


def normalized(vectors: list[list[float]]) -> list[list[float]]:
    """Each vector scaled to length 1 (a zero vector stays zero), in one numpy pass."""
    matrix = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    result: list[list[float]] = (matrix / np.where(norms > 0, norms, 1.0)).tolist()
    return result
