"""llama.cpp through llama-cpp-python's ctypes API: the only module that imports `llama_cpp`.

The model (`LlamaModel`) and its vocabulary, one shared context with several sequences, an
embedding context, batches and sampler chains, as thin typed wrappers. Nothing here is thread-safe
except tokenization: the engine's worker owns the context, the embedder's lock its own.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import json
import logging
import mmap
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import llama_cpp
import llama_cpp.llama_cpp as llama
import numpy as np
from llama_cpp._logger import llama_log_callback as print_llama_log
from llama_cpp.llama_grammar import SchemaConverter

from pocketchat.engine.gguf_check import check_gguf_file
from pocketchat.engine.json_schema import UnsupportedSchema, check_schema
from pocketchat.engine.types import SamplerConfig

LLAMA_CPP_PYTHON_VERSION: str = llama_cpp.__version__
GGML_LOG_LEVEL_ERROR = 4  # ggml's levels: none, debug, info, warn, error, continuation

_backend_lock = threading.Lock()
_backend_ready = False
# llama.cpp says why a load failed only in its log: the last error lines, for LlamaError.
_recent_errors: collections.deque[str] = collections.deque(maxlen=8)
_load_lock = threading.Lock()


@llama.llama_log_callback
def _log_callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    if level == GGML_LOG_LEVEL_ERROR:
        _recent_errors.append(text.decode("utf-8", errors="replace").strip())
    print_llama_log(level, text, user_data)  # llama-cpp-python's own printing, unchanged


def _init_backend() -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            # llama.cpp logs every tensor and graph at INFO; keep its errors only, unless our
            # own logging asks for debug detail.
            verbose = logging.getLogger("pocketchat").isEnabledFor(logging.DEBUG)
            logging.getLogger("llama-cpp-python").setLevel(
                logging.DEBUG if verbose else logging.ERROR
            )
            llama.llama_log_set(_log_callback, ctypes.c_void_p(0))
            llama.llama_backend_init()
            _backend_ready = True


class LlamaError(RuntimeError):
    """llama.cpp refused an operation (a file it cannot load, a context it cannot create)."""


def json_grammar(schema: Mapping[str, Any] | None) -> str:
    """The GBNF grammar of JSON following `schema`, or of any JSON object when it is None.

    llama-cpp-python's converter (pure Python, a port of llama.cpp's) does the work; the schema
    is checked first because the converter skips keywords it does not know.
    """
    schema = {"type": "object"} if schema is None else schema
    check_schema(schema)
    # The converter rewrites `$ref`s in place: it gets its own copy.
    copy = json.loads(json.dumps(schema))
    converter = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    try:
        converter.visit(converter.resolve_refs(copy, ""), "")
    except (ValueError, TypeError, KeyError, AttributeError, AssertionError, RecursionError) as e:
        raise UnsupportedSchema("$schema", f"the JSON schema cannot be enforced ({e})") from None
    rules = str(converter.format_grammar()).splitlines()
    return "\n".join(_JSON_CHAR if rule.startswith("char ::= ") else rule for rule in rules)


# llama-cpp-python's converter lets a string hold raw control characters (`[^"\\]`), which no
# JSON parser accepts: a newline inside a string came out of SmolLM2 within a few replies.
# llama.cpp's own converter excludes them, as here.
_JSON_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})'


class LlamaModel:
    """A loaded GGUF file and its vocabulary."""

    def __init__(
        self, path: Path, *, use_mmap: bool, use_mlock: bool, vocab_only: bool = False
    ) -> None:
        """`vocab_only`: the vocabulary and hyperparameters without the weights (tokenizing)."""
        _init_backend()
        # Before llama.cpp sees the file: its loader aborts the process on some bad files.
        check_gguf_file(path)
        self.path = path
        params = llama.llama_model_default_params()
        params.n_gpu_layers = 0
        params.vocab_only = vocab_only
        if use_mmap and use_mlock:
            params.load_mode = llama.LLAMA_LOAD_MODE_MMAP_MLOCK
        elif use_mlock:
            params.load_mode = llama.LLAMA_LOAD_MODE_MLOCK
        elif use_mmap:
            params.load_mode = llama.LLAMA_LOAD_MODE_MMAP
        else:
            params.load_mode = llama.LLAMA_LOAD_MODE_NONE
        with _load_lock:
            _recent_errors.clear()
            self._ptr = llama.llama_model_load_from_file(str(path).encode(), params)
            reasons = [line for line in _recent_errors if "failed to load model" not in line]
        if not self._ptr:
            # "llama_model_load: error loading model: unknown model architecture: 'x'"
            reason = reasons[0].split("error loading model: ")[-1] if reasons else "no reason given"
            raise LlamaError(f"llama.cpp cannot load it ({reason})")
        self._vocab = llama.llama_model_get_vocab(self._ptr)
        self.n_vocab: int = llama.llama_vocab_n_tokens(self._vocab)
        self.n_ctx_train: int = llama.llama_model_n_ctx_train(self._ptr)
        self.add_bos: bool = bool(llama.llama_vocab_get_add_bos(self._vocab))
        self.bos_token: int = llama.llama_vocab_bos(self._vocab)
        self.eos_token: int = llama.llama_vocab_eos(self._vocab)
        self.add_eos: bool = bool(llama.llama_vocab_get_add_eos(self._vocab))

    def close(self) -> None:
        if self._ptr:
            llama.llama_model_free(self._ptr)
            self._ptr = None

    @property
    def ptr(self) -> llama.llama_model_p:
        return self._ptr

    def meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(256)
        needed = llama.llama_model_meta_val_str(self._ptr, key.encode(), buf, len(buf))
        if needed < 0:
            return None
        if needed >= len(buf):
            buf = ctypes.create_string_buffer(needed + 1)
            llama.llama_model_meta_val_str(self._ptr, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", errors="replace")

    def chat_template(self) -> str | None:
        raw = llama.llama_model_chat_template(self._ptr, None)
        return raw.decode("utf-8", errors="replace") if raw else None

    def description(self) -> str:
        buf = ctypes.create_string_buffer(256)
        llama.llama_model_desc(self._ptr, buf, len(buf))
        return buf.value.decode("utf-8", errors="replace")

    def size_bytes(self) -> int:
        return int(llama.llama_model_size(self._ptr))

    def n_params(self) -> int:
        return int(llama.llama_model_n_params(self._ptr))

    def token_text(self, token: int) -> str:
        raw = llama.llama_vocab_get_text(self._vocab, token)
        return raw.decode("utf-8", errors="replace") if raw else ""

    def tokenize(self, text: str, *, special: bool, add_bos: bool = False) -> list[int]:
        """Text to tokens. With `special=False` control-token text stays plain text.

        Thread-safe: the vocabulary is read-only once loaded.
        """
        data = text.encode("utf-8")
        capacity = len(data) + 8
        tokens = (llama.llama_token * capacity)()
        count = llama.llama_tokenize(
            self._vocab, data, len(data), tokens, capacity, add_bos, special
        )
        if count < 0:
            capacity = -count
            tokens = (llama.llama_token * capacity)()
            count = llama.llama_tokenize(
                self._vocab, data, len(data), tokens, capacity, add_bos, special
            )
        return list(tokens[:count])

    def token_bytes(self, token: int) -> bytes:
        """The bytes a token stands for; control tokens render as nothing."""
        buf = ctypes.create_string_buffer(64)
        length = llama.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        if length < 0:
            buf = ctypes.create_string_buffer(-length)
            length = llama.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        return buf.raw[:length]

    def is_end_of_generation(self, token: int) -> bool:
        return bool(llama.llama_vocab_is_eog(self._vocab, token))

    def is_control(self, token: int) -> bool:
        return bool(llama.llama_vocab_is_control(self._vocab, token))

    def grammar_sampler(self, grammar: str) -> llama.llama_sampler_p:
        """A grammar sampler for this vocabulary; LlamaError when llama.cpp cannot parse it."""
        with _load_lock:
            _recent_errors.clear()
            sampler = llama.llama_sampler_init_grammar(self._vocab, grammar.encode(), b"root")
            reasons = list(_recent_errors)
        if not sampler:
            raise LlamaError(f"llama.cpp cannot use the grammar ({'; '.join(reasons)[:300]})")
        return sampler

    def check_grammar(self, grammar: str) -> None:
        """Raise LlamaError unless llama.cpp can parse `grammar` (any thread)."""
        llama.llama_sampler_free(self.grammar_sampler(grammar))


def _abort_flag_callback() -> tuple[object, ctypes.Array[ctypes.c_char]]:
    """An abort callback that reads a flag without Python.

    ggml calls the callback before every graph node (~700 per decode step for a 24-layer
    model). A Python callback would take the GIL each time and stall the matmul threads
    behind the HTTP threads; libc's `strlen` over a two-byte buffer returns 1 (abort) or 0
    (go on) in pure C. Falls back to a Python callback where libc cannot be found.
    """
    flag = ctypes.create_string_buffer(2)
    libc_name = "msvcrt" if sys.platform == "win32" else ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(libc_name)
        address = ctypes.cast(libc.strlen, ctypes.c_void_p).value
        if address is None:
            raise OSError("strlen has no address")
        callback: object = llama.ggml_abort_callback(address)
    except (OSError, AttributeError, TypeError):

        def python_flag(_data: ctypes.c_void_p) -> bool:
            return flag.raw[0] != 0

        callback = llama.ggml_abort_callback(python_flag)
    return callback, flag


class Context:
    """One llama context whose KV cache holds up to `n_seq` sequences of `n_ctx_per_seq` tokens."""

    def __init__(
        self,
        model: LlamaModel,
        *,
        n_ctx_per_seq: int,
        n_seq: int,
        n_batch: int,
        n_ubatch: int,
        n_threads: int,
        n_threads_batch: int,
    ) -> None:
        self.model = model
        self._abort_callback, self._abort_flag = _abort_flag_callback()
        params = llama.llama_context_default_params()
        params.n_ctx = n_ctx_per_seq * n_seq
        params.n_batch = n_batch
        params.n_ubatch = n_ubatch
        params.n_seq_max = n_seq
        params.n_threads = n_threads
        params.n_threads_batch = n_threads_batch
        # A KV stream per sequence rather than one unified pool. Measured with SmolLM2 and
        # greedy sampling: in a unified pool the cells of concurrent conversations interleave,
        # attention sums in another order, and 4 concurrent replies left their solo answers
        # within 1-18 tokens; with a stream each they matched. Same memory: a conversation
        # never holds more than n_ctx_per_seq tokens anyway.
        params.kv_unified = False
        params.no_perf = True
        params.abort_callback = self._abort_callback
        params.abort_callback_data = ctypes.cast(self._abort_flag, ctypes.c_void_p)
        self._ptr = llama.llama_init_from_model(model.ptr, params)
        if not self._ptr:
            raise LlamaError(
                f"llama.cpp could not create a context of {params.n_ctx} tokens "
                "(not enough memory? lower N_CTX or PARALLEL)"
            )
        self._memory = llama.llama_get_memory(self._ptr)

    def close(self) -> None:
        if self._ptr:
            llama.llama_free(self._ptr)
            self._ptr = None

    @property
    def ptr(self) -> llama.llama_context_p:
        return self._ptr

    def request_abort(self) -> None:
        """Stop the decode in progress (called from any thread); it returns ABORTED."""
        ctypes.memset(self._abort_flag, 1, 1)

    def decode(self, batch: Batch) -> int:
        """0 on success, 1 when no KV room, 2 when aborted, negative on error.

        The abort flag is not reset here: a stop asked for between `clear_abort` and this
        call must still abort.
        """
        return int(llama.llama_decode(self._ptr, batch.raw))

    def clear_abort(self) -> None:
        ctypes.memset(self._abort_flag, 0, 1)

    def copy_sequence(self, src: int, dst: int) -> None:
        """Give `dst` a copy of `src`'s cache, at once: only the cells in use move (about 3 ms
        for 1,000 tokens of Qwen2.5-0.5B). llama.cpp's own `seq_cp` between streams copies the
        whole stream at the next decode, so a state saved or restored before that decode would
        read or be overwritten by the pending copy."""
        if not self.restore_sequence(dst, self.save_sequence(src)):
            raise LlamaError(f"llama.cpp could not copy sequence {src} to {dst}")

    def forget(self, seq: int, from_pos: int = 0) -> None:
        """Drop a sequence's cached tokens from position `from_pos` on."""
        llama.llama_memory_seq_rm(self._memory, seq, from_pos, -1)

    def save_sequence(self, seq: int) -> mmap.mmap:
        """A copy of `seq`'s cache (llama.cpp's sequence state: positions and K/V rows), for
        `restore_sequence` into this or another context of the same model and settings.

        In an anonymous mapping of its own: freed, its pages go straight back to the system,
        where megabyte buffers from the heap would leave it fragmented and the process larger.
        """
        size = int(llama.llama_state_seq_get_size(self._ptr, seq))
        data = mmap.mmap(-1, max(size, 1))
        buffer = (ctypes.c_uint8 * size).from_buffer(data)
        written = int(llama.llama_state_seq_get_data(self._ptr, buffer, size, seq))
        del buffer  # the mapping cannot be closed while a ctypes array exports it
        if written != size:
            raise LlamaError(f"llama.cpp wrote {written} of {size} bytes of sequence {seq}")
        return data

    def restore_sequence(self, seq: int, data: mmap.mmap | bytearray | memoryview) -> bool:
        """Replace `seq`'s cache with a saved state; False (and `seq` empty) if llama.cpp
        refuses it (another model or context shape, a damaged copy)."""
        buffer = (ctypes.c_uint8 * len(data)).from_buffer(data)
        try:
            read = int(llama.llama_state_seq_set_data(self._ptr, buffer, len(data), seq))
        finally:
            del buffer
        if read != len(data):
            self.forget(seq)
            return False
        return True

    def cached_span(self, seq: int) -> tuple[int, int]:
        """The first and last position the cache holds for `seq`; (-1, -1) when it holds none."""
        return (
            llama.llama_memory_seq_pos_min(self._memory, seq),
            llama.llama_memory_seq_pos_max(self._memory, seq),
        )

    def system_info(self) -> str:
        return llama.llama_print_system_info().decode("utf-8", errors="replace").strip()


class EmbeddingContext:
    """A llama context that pools each sequence of a batch into one vector (embedding models).

    Nothing is kept between calls: every call embeds its own texts. BERT-style models attend both
    ways and keep no KV cache, so the batch goes through `llama_encode` and must fit one
    micro-batch (`n_tokens`); a causal embedding model goes through `llama_decode`.
    """

    def __init__(self, model: LlamaModel, *, n_tokens: int, n_seq: int, n_threads: int) -> None:
        self.model = model
        params = llama.llama_context_default_params()
        params.n_ctx = n_tokens
        params.n_batch = n_tokens
        params.n_ubatch = n_tokens
        params.n_seq_max = n_seq
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.embeddings = True
        params.pooling_type = llama.LLAMA_POOLING_TYPE_UNSPECIFIED  # the model's own (GGUF)
        # One pool for every sequence: separate streams would give each text n_tokens / n_seq.
        params.kv_unified = True
        params.no_perf = True
        self._ptr = llama.llama_init_from_model(model.ptr, params)
        if not self._ptr:
            raise LlamaError(
                f"llama.cpp could not create an embedding context of {n_tokens} tokens"
            )
        pooling = llama.llama_pooling_type(self._ptr)
        if pooling not in (
            llama.LLAMA_POOLING_TYPE_MEAN,
            llama.LLAMA_POOLING_TYPE_CLS,
            llama.LLAMA_POOLING_TYPE_LAST,
        ):
            self.close()
            raise LlamaError(f"{model.path.name} is not a pooling embedding model")
        self.pooling: int = pooling
        self.n_embd: int = llama.llama_model_n_embd(model.ptr)
        architecture = model.meta("general.architecture")
        self._encoder = model.meta(f"{architecture}.attention.causal") == "false"
        self._memory = llama.llama_get_memory(self._ptr)

    def close(self) -> None:
        if self._ptr:
            llama.llama_free(self._ptr)
            self._ptr = None

    def embed(self, batch: Batch, n_seq: int) -> list[list[float]]:
        """The pooled vectors of sequences 0..n_seq-1 of `batch` (every token marked as output)."""
        if self._memory:
            llama.llama_memory_clear(self._memory, True)
        run = llama.llama_encode if self._encoder else llama.llama_decode
        status = int(run(self._ptr, batch.raw))
        if status != 0:
            raise LlamaError(f"llama.cpp could not embed the batch (status {status})")
        vectors = []
        for seq in range(n_seq):
            pointer = llama.llama_get_embeddings_seq(self._ptr, seq)
            if not pointer:
                raise LlamaError(f"llama.cpp returned no embedding for sequence {seq}")
            vectors.append(pointer[: self.n_embd])
        return vectors


class Batch:
    """A reusable llama_batch of up to `capacity` tokens, each in one sequence."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.raw = llama.llama_batch_init(capacity, 0, 1)
        self.size = 0

    def close(self) -> None:
        if self.capacity:
            llama.llama_batch_free(self.raw)
            self.capacity = 0

    def clear(self) -> None:
        self.size = 0
        self.raw.n_tokens = 0

    def add(self, token: int, pos: int, seq: int, want_logits: bool) -> int:
        """Append one token; returns its index, used to sample from its logits."""
        index = self.size
        self.raw.token[index] = token
        self.raw.pos[index] = pos
        self.raw.n_seq_id[index] = 1
        self.raw.seq_id[index][0] = seq
        self.raw.logits[index] = want_logits
        self.size += 1
        self.raw.n_tokens = self.size
        return index


class Sampler:
    """A llama.cpp sampler chain for one sequence: logit biases, penalties, top-k, top-p, min-p,
    temperature; and, for a structured reply, a grammar beside the chain."""

    def __init__(self, model: LlamaModel, config: SamplerConfig) -> None:
        # Made before the chain: if llama.cpp refuses the grammar, nothing is left to free.
        self._grammar = None if config.grammar is None else model.grammar_sampler(config.grammar)
        self._candidates = None if self._grammar is None else _Candidates(model.n_vocab)
        self.n_vocab = model.n_vocab
        self._ptr = llama.llama_sampler_chain_init(llama.llama_sampler_chain_default_params())
        add = self._add
        if config.logit_bias:
            biases = (llama.llama_logit_bias * len(config.logit_bias))(
                *(llama.llama_logit_bias(token, bias) for token, bias in config.logit_bias)
            )
            add(llama.llama_sampler_init_logit_bias(model.n_vocab, len(biases), biases))
        if config.repeat_penalty != 1.0 or config.frequency_penalty or config.presence_penalty:
            add(
                llama.llama_sampler_init_penalties(
                    model.n_vocab,
                    config.repeat_last_n,
                    config.repeat_penalty,
                    config.frequency_penalty,
                    config.presence_penalty,
                )
            )
        if config.temperature <= 0:
            add(llama.llama_sampler_init_greedy())
            return
        if config.top_k > 0:
            add(llama.llama_sampler_init_top_k(config.top_k))
        if config.top_p < 1.0:
            add(llama.llama_sampler_init_top_p(config.top_p, 1))
        if config.min_p > 0:
            add(llama.llama_sampler_init_min_p(config.min_p, 1))
        add(llama.llama_sampler_init_temp(config.temperature))
        seed = llama.LLAMA_DEFAULT_SEED if config.seed is None else config.seed & 0xFFFFFFFF
        add(llama.llama_sampler_init_dist(seed))

    def _add(self, sampler: llama.llama_sampler_p) -> None:
        llama.llama_sampler_chain_add(self._ptr, sampler)

    def accept(self, token: int) -> None:
        """Feed a prompt token to the penalties' history without sampling (never to the
        grammar, which would refuse the prompt)."""
        llama.llama_sampler_accept(self._ptr, token)

    def sample(self, context: Context, batch_index: int) -> int:
        if self._grammar is None or self._candidates is None:
            return int(llama.llama_sampler_sample(self._ptr, context.ptr, batch_index))
        # As llama.cpp's common sampler does: the grammar first checks only the token the chain
        # picked, and masks the whole vocabulary only when it refuses it. Measured with
        # SmolLM2's 49k tokens: a mask takes 3-25 ms, the check of one token microseconds.
        logits = llama.llama_get_logits_ith(context.ptr, batch_index)
        candidates = self._candidates
        token = candidates.pick(self._ptr, logits)
        if not candidates.allows(self._grammar, token):
            candidates.fill(logits)
            llama.llama_sampler_apply(self._grammar, candidates.pointer)
            token = candidates.pick(self._ptr, None)
        llama.llama_sampler_accept(self._grammar, token)
        llama.llama_sampler_accept(self._ptr, token)
        return token

    def logprobs(
        self, context: Context, batch_index: int, token: int, top: int
    ) -> tuple[float, list[tuple[int, float]]]:
        """The log-probability of `token` under the model's own distribution at `batch_index`,
        and the `top` most likely tokens with theirs, most likely first."""
        raw = llama.llama_get_logits_ith(context.ptr, batch_index)
        logits = np.ctypeslib.as_array(raw, shape=(self.n_vocab,)).astype(np.float64)
        peak = logits.max()
        log_total = peak + np.log(np.exp(logits - peak).sum())
        best = np.argpartition(-logits, top)[:top] if top else np.empty(0, dtype=np.int64)
        best = best[np.argsort(-logits[best])]
        return float(logits[token] - log_total), [
            (int(t), float(logits[t] - log_total)) for t in best
        ]

    def close(self) -> None:
        if self._ptr:
            llama.llama_sampler_free(self._ptr)
            self._ptr = None
        if self._grammar:
            llama.llama_sampler_free(self._grammar)
            self._grammar = None


class _Candidates:
    """The vocabulary as llama.cpp's candidate array, filled from a row of logits by numpy."""

    def __init__(self, n_vocab: int) -> None:
        self.n_vocab = n_vocab
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._data, self._rows, self.pointer = _token_data(n_vocab)
        self._one, self._one_rows, self._one_pointer = _token_data(1)

    def fill(self, logits: ctypes.Array[ctypes.c_float]) -> None:
        self._rows["id"] = self._ids
        self._rows["logit"] = np.ctypeslib.as_array(logits, shape=(self.n_vocab,))
        self._rows["p"] = 0.0
        # A sampler may point the array at a buffer of its own: it comes back to ours.
        self.pointer.contents.data = ctypes.cast(self._data, llama.llama_token_data_p)
        self.pointer.contents.size = self.n_vocab
        self.pointer.contents.selected = -1
        self.pointer.contents.sorted = False

    def pick(
        self, chain: llama.llama_sampler_p, logits: ctypes.Array[ctypes.c_float] | None
    ) -> int:
        """The token `chain` selects from these logits (None: from the array as it stands)."""
        if logits is not None:
            self.fill(logits)
        llama.llama_sampler_apply(chain, self.pointer)
        array = self.pointer.contents
        return int(array.data[array.selected].id)

    def allows(self, grammar: llama.llama_sampler_p, token: int) -> bool:
        self._one_rows[0] = (token, 1.0, 0.0)
        self._one_pointer.contents.size = 1
        self._one_pointer.contents.selected = -1
        llama.llama_sampler_apply(grammar, self._one_pointer)
        return bool(np.isfinite(self._one_rows["logit"][0]))


_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


def _token_data(size: int) -> tuple[Any, np.ndarray, Any]:
    """A llama_token_data_array of `size` rows, its rows as a numpy view, and a pointer to it."""
    data = (llama.llama_token_data * size)()
    rows = np.frombuffer(memoryview(data), dtype=_TOKEN_DATA)
    array = llama.llama_token_data_array(data=data, size=size, selected=-1, sorted=False)
    return data, rows, ctypes.pointer(array)
