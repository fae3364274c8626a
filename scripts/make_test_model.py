"""Random-weight Qwen2 and Qwen3 GGUF models for tests and benchmarks: a real tokenizer, noise
for weights.

`tiny` and `tiny-qwen3` load in milliseconds; `qwen2.5-0.5b`, `qwen2.5-1.5b`, `qwen3-0.6b` and
`qwen3-1.7b` have every tensor shape of those models and are quantized to Q4_K_M, so they cost the
same bytes and FLOPs per token as the real files while their text is noise.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import logging
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

SEED = 20240917
WEIGHT_STD = 0.02
CONTROL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# Qwen3's reasoning markers: plain added tokens (USER_DEFINED, not CONTROL), at 151667-151668
# in the real vocabulary, after tool and fill-in-the-middle tokens this writer leaves out.
THINK_TOKENS = ("<think>", "</think>")
THINK_TOKEN_ID = 151667
MERGE_COUNT = 240
# Rows generated at once: bounds the float32 scratch to a few MB even for the 1.7B shape's
# 311M-value embedding.
CHUNK_VALUES = 1 << 22

# Qwen2.5-Instruct's own template, so prompts cost the same tokens as with the real model.
QWEN25_CHAT_TEMPLATE = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""  # noqa: E501

# Qwen3's own template (Qwen/Qwen3-0.6B's tokenizer_config.json, also in llama.cpp's
# models/templates/Qwen-Qwen3-0.6B.jinja): the reply opens with a <think> block unless the
# request passes enable_thinking=false, and earlier turns' reasoning is dropped from the history.
QWEN3_CHAT_TEMPLATE = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {%- set content = message.content %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is defined and message.reasoning_content is not none %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in message.content %}
                {%- set content = message.content.split('</think>')[-1].lstrip('\n') %}
                {%- set reasoning_content = message.content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}"""  # noqa: E501

# Text the merges are learned from: English and Chinese, the languages the tests send.
CORPUS = """\
The quick brown fox jumps over the lazy dog. Hello, world! How are you today? I am fine,
thank you. What is the weather like in the city? It is sunny and warm, and there is a light
wind from the sea. Please tell me a short story about a cat that learns to read. Once upon a
time there was a small cat who lived in a library, and every night she opened a new book.
The answer is yes. The answer is no. Can you help me with this question? Of course I can.
你好，世界！今天天气怎么样？我很好，谢谢你。请给我讲一个关于小猫的故事。
从前有一只小猫住在图书馆里，每天晚上她都会打开一本新书。这个问题的答案是什么？我可以帮助你。
我们一起学习中文和英文。中国的首都是北京。人工智能正在改变我们的生活和工作。
"""


@dataclass(frozen=True)
class ModelShape:
    name: str
    vocab_size: int
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    n_ff: int
    context_length: int
    rope_theta: float
    rms_eps: float
    weight_dtype: type[np.floating]
    quantize_to: int | None  # a llama_ftype, or None to keep the written types
    # "qwen2": biases on q, k and v. "qwen3": no biases, an RMS norm on each head's q and k, a
    # fixed head size, <think> tokens and Qwen3's template.
    architecture: str = "qwen2"
    head_dim: int | None = None  # None: n_embd // n_head

    @property
    def head_size(self) -> int:
        return self.head_dim or self.n_embd // self.n_head


# 15 = LLAMA_FTYPE_MOSTLY_Q4_K_M. The figures of each model's config.json (hidden_size,
# num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim, intermediate_size,
# max_position_embeddings, rope_theta, rms_norm_eps; all six tie their embeddings), as public
# copies of the files quote them; the tests check each total against the model's own count.
SHAPES: dict[str, ModelShape] = {
    "tiny": ModelShape(
        name="tiny", vocab_size=640, n_layer=2, n_embd=64, n_head=4, n_head_kv=2, n_ff=128,
        context_length=32768, rope_theta=1e6, rms_eps=1e-6, weight_dtype=np.float32,
        quantize_to=None,
    ),
    "tiny-qwen3": ModelShape(
        name="tiny-qwen3", vocab_size=640, n_layer=2, n_embd=64, n_head=4, n_head_kv=2,
        n_ff=128, context_length=40960, rope_theta=1e6, rms_eps=1e-6, weight_dtype=np.float32,
        quantize_to=None, architecture="qwen3", head_dim=32,
    ),
    "qwen2.5-0.5b": ModelShape(
        name="qwen2.5-0.5b", vocab_size=151936, n_layer=24, n_embd=896, n_head=14, n_head_kv=2,
        n_ff=4864, context_length=32768, rope_theta=1e6, rms_eps=1e-6, weight_dtype=np.float16,
        quantize_to=15,
    ),
    "qwen2.5-1.5b": ModelShape(
        name="qwen2.5-1.5b", vocab_size=151936, n_layer=28, n_embd=1536, n_head=12, n_head_kv=2,
        n_ff=8960, context_length=32768, rope_theta=1e6, rms_eps=1e-6, weight_dtype=np.float16,
        quantize_to=15,
    ),
    # Qwen3's heads are 128 wide whatever the width: 0.6B's 16 query heads make 2048 from 1024.
    "qwen3-0.6b": ModelShape(
        name="qwen3-0.6b", vocab_size=151936, n_layer=28, n_embd=1024, n_head=16, n_head_kv=8,
        n_ff=3072, context_length=40960, rope_theta=1e6, rms_eps=1e-6, weight_dtype=np.float16,
        quantize_to=15, architecture="qwen3", head_dim=128,
    ),
    "qwen3-1.7b": ModelShape(
        name="qwen3-1.7b", vocab_size=151936, n_layer=28, n_embd=2048, n_head=16, n_head_kv=8,
        n_ff=6144, context_length=40960, rope_theta=1e6, rms_eps=1e-6, weight_dtype=np.float16,
        quantize_to=15, architecture="qwen3", head_dim=128,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Vocabulary:
    tokens: list[str]
    types: list[int]
    merges: list[str]

    def id_of(self, token: str) -> int:
        return self.tokens.index(token)


def _pretokenize(text: str) -> list[str]:
    """Python's approximation of Qwen2's pre-tokenizer regex (letters, digits, punctuation runs)."""
    return re.findall(r"[^\r\n\w]?[^\W\d_]+|\d| ?[^\s\w]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+", text)


def _learn_merges(text: str, count: int) -> list[tuple[str, str]]:
    """Byte-level BPE training on `text`, most frequent pair first (ties broken by the pair)."""
    byte_char = gguf.vocab.bytes_to_unicode()
    words = collections.Counter(
        tuple(byte_char[b] for b in word.encode("utf-8")) for word in _pretokenize(text)
    )
    merges: list[tuple[str, str]] = []
    while len(merges) < count:
        pairs: collections.Counter[tuple[str, str]] = collections.Counter()
        for symbols, freq in words.items():
            for pair in itertools.pairwise(symbols):
                pairs[pair] += freq
        if not pairs:
            break
        best = max(pairs.items(), key=lambda item: (item[1], item[0]))[0]
        merges.append(best)
        merged: collections.Counter[tuple[str, ...]] = collections.Counter()
        for symbols, freq in words.items():
            out: list[str] = []
            i = 0
            while i < len(symbols):
                if symbols[i : i + 2] == best:
                    out.append(best[0] + best[1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            merged[tuple(out)] += freq
        words = merged
    return merges


def _filler_words() -> Iterator[str]:
    """Made-up words (" ba", " bemo", ...): ASCII text for the rows of a large vocabulary."""
    syllables = [c + v for c in "bdfghjklmnprstvz" for v in "aeiou"]
    length = 1
    while True:
        for index in range(len(syllables) ** length):
            word = ""
            for _ in range(length):
                index, digit = divmod(index, len(syllables))
                word += syllables[digit]
            yield "Ġ" + word  # "Ġ" is the byte-level spelling of a leading space
        length += 1


def build_vocabulary(shape: ModelShape) -> Vocabulary:
    """Byte tokens, learned merges, filler words, Qwen's control tokens (and Qwen3's <think>
    tokens), then unused padding."""
    byte_tokens = list(gguf.vocab.bytes_to_unicode().values())
    merges = _learn_merges(CORPUS, MERGE_COUNT)
    tokens = byte_tokens + [left + right for left, right in merges]
    # Qwen's <|endoftext|> is 151643: the full-size shapes keep the real ids of the special tokens.
    special_count = len(CONTROL_TOKENS) + (
        len(THINK_TOKENS) if shape.architecture == "qwen3" else 0
    )
    regular_count = min(shape.vocab_size - special_count, 151643)
    taken = set(tokens)
    fillers = (word for word in _filler_words() if word not in taken)
    while len(tokens) < regular_count:
        tokens.append(next(fillers))
    types = [gguf.TokenType.NORMAL] * len(tokens)
    tokens += CONTROL_TOKENS
    types += [gguf.TokenType.CONTROL] * len(CONTROL_TOKENS)

    def pad_to(count: int) -> None:
        # Qwen pads its embedding to 151936 rows that no tokenizer entry uses.
        for index in range(len(tokens), count):
            tokens.append(f"[PAD{index}]")
            types.append(gguf.TokenType.UNUSED)

    if shape.architecture == "qwen3":
        pad_to(min(THINK_TOKEN_ID, shape.vocab_size - len(THINK_TOKENS)))
        tokens += THINK_TOKENS
        types += [gguf.TokenType.USER_DEFINED] * len(THINK_TOKENS)
    pad_to(shape.vocab_size)
    return Vocabulary(tokens, [int(t) for t in types], [f"{a} {b}" for a, b in merges])


def _tensor_shapes(shape: ModelShape) -> list[tuple[str, tuple[int, ...]]]:
    """The tensors in llama.cpp's names, numpy order (rows = output features); no output.weight:
    the embeddings are tied."""
    q_dim = shape.head_size * shape.n_head
    kv_dim = shape.head_size * shape.n_head_kv
    tensors: list[tuple[str, tuple[int, ...]]] = [
        ("token_embd.weight", (shape.vocab_size, shape.n_embd))
    ]
    for layer in range(shape.n_layer):
        block = f"blk.{layer}"
        q, k, v = f"{block}.attn_q", f"{block}.attn_k", f"{block}.attn_v"
        if shape.architecture == "qwen3":
            projections = [
                (f"{q}.weight", (q_dim, shape.n_embd)),
                (f"{q}_norm.weight", (shape.head_size,)),
                (f"{k}.weight", (kv_dim, shape.n_embd)),
                (f"{k}_norm.weight", (shape.head_size,)),
                (f"{v}.weight", (kv_dim, shape.n_embd)),
            ]
        else:
            projections = [
                (f"{q}.weight", (q_dim, shape.n_embd)),
                (f"{q}.bias", (q_dim,)),
                (f"{k}.weight", (kv_dim, shape.n_embd)),
                (f"{k}.bias", (kv_dim,)),
                (f"{v}.weight", (kv_dim, shape.n_embd)),
                (f"{v}.bias", (kv_dim,)),
            ]
        tensors += [
            (f"{block}.attn_norm.weight", (shape.n_embd,)),
            *projections,
            (f"{block}.attn_output.weight", (shape.n_embd, q_dim)),
            (f"{block}.ffn_norm.weight", (shape.n_embd,)),
            (f"{block}.ffn_gate.weight", (shape.n_ff, shape.n_embd)),
            (f"{block}.ffn_up.weight", (shape.n_ff, shape.n_embd)),
            (f"{block}.ffn_down.weight", (shape.n_embd, shape.n_ff)),
        ]
    return [*tensors, ("output_norm.weight", (shape.n_embd,))]


def _tensor_values(
    rng: np.random.Generator,
    name: str,
    dims: tuple[int, ...],
    dtype: type[np.floating],
    silent_rows: range,
) -> np.ndarray:
    """Norms are ones, biases and embeddings small noise, matrices noise of std 1/sqrt(fan-in):
    then the layers outweigh the embedding in the residual stream, and greedy text varies
    instead of repeating the last token forever (measured with std 0.02 everywhere).

    The embedding rows of control and padding tokens are zero: with tied embeddings their logit
    is exactly 0 while hundreds of noise logits make the maximum positive, so greedy decoding
    never ends a reply early: it runs to max_tokens."""
    if name.endswith("norm.weight"):
        return np.ones(dims, dtype=np.float32)
    if len(dims) == 1:
        return (rng.standard_normal(dims, dtype=np.float32) * WEIGHT_STD).astype(np.float32)
    std = WEIGHT_STD if name == "token_embd.weight" else dims[1] ** -0.5
    values = np.empty(dims, dtype=dtype)
    rows_per_chunk = max(1, CHUNK_VALUES // dims[1])
    for start in range(0, dims[0], rows_per_chunk):
        chunk = rng.standard_normal(
            (min(rows_per_chunk, dims[0] - start), dims[1]), dtype=np.float32
        )
        values[start : start + len(chunk)] = chunk * std
    if name == "token_embd.weight":
        values[silent_rows.start : silent_rows.stop] = 0
    return values


def _write_gguf(shape: ModelShape, path: Path) -> None:
    """Stream the tensors to `path` one at a time (the 1.7B embedding alone is 622 MB in f16)."""
    vocab = build_vocabulary(shape)
    end_of_text = vocab.id_of("<|endoftext|>")
    writer = gguf.GGUFWriter(path, shape.architecture)
    writer.add_name(f"pocketchat random-weight test model ({shape.name})")
    writer.add_context_length(shape.context_length)
    writer.add_embedding_length(shape.n_embd)
    writer.add_block_count(shape.n_layer)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    if shape.architecture == "qwen3":
        writer.add_key_length(shape.head_size)
        writer.add_value_length(shape.head_size)
    writer.add_rope_freq_base(shape.rope_theta)
    writer.add_layer_norm_rms_eps(shape.rms_eps)
    writer.add_file_type(
        gguf.LlamaFileType.ALL_F32
        if shape.weight_dtype is np.float32
        else gguf.LlamaFileType.MOSTLY_F16
    )
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    writer.add_bos_token_id(end_of_text)
    writer.add_pad_token_id(end_of_text)
    writer.add_eos_token_id(vocab.id_of("<|im_end|>"))
    writer.add_eot_token_id(vocab.id_of("<|im_end|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(
        QWEN3_CHAT_TEMPLATE if shape.architecture == "qwen3" else QWEN25_CHAT_TEMPLATE
    )

    tensors = _tensor_shapes(shape)
    for name, dims in tensors:
        dtype = np.float32 if len(dims) == 1 else shape.weight_dtype
        writer.add_tensor_info(
            name, dims, np.dtype(dtype), int(np.prod(dims)) * np.dtype(dtype).itemsize
        )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    rng = np.random.default_rng(SEED)
    silent_rows = range(end_of_text, shape.vocab_size)
    for name, dims in tensors:
        writer.write_tensor_data(_tensor_values(rng, name, dims, shape.weight_dtype, silent_rows))
    writer.close()


def quantize_model(source: Path, target: Path, ftype: int) -> None:
    """Quantize a GGUF file with llama.cpp's own quantizer to `ftype` (a llama_ftype)."""
    import llama_cpp  # only quantizing needs the compiled library

    # Quiet the per-tensor lines: llama-cpp-python 0.3.36 maps ggml's WARN (3) to logging.ERROR,
    # so only CRITICAL hides them; a failure still shows as the non-zero status below.
    llama_logger = logging.getLogger("llama-cpp-python")
    previous_level = llama_logger.level
    llama_logger.setLevel(logging.CRITICAL)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = os.cpu_count() or 1
    try:
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
    finally:
        llama_logger.setLevel(previous_level)
    if status != 0:
        raise RuntimeError(f"llama_model_quantize returned {status} for {source}")


def write_test_model(shape_name: str, path: Path | str) -> Path:
    """Write the model for `shape_name` to `path` atomically (a temporary name, then a rename)."""
    shape = SHAPES[shape_name]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    unquantized = partial.with_suffix(".f16")
    try:
        if shape.quantize_to is None:
            _write_gguf(shape, partial)
        else:
            print(f"Writing {shape.name} weights in f16 …", flush=True)
            _write_gguf(shape, unquantized)
            print("Quantizing to Q4_K_M (under a minute on 2 cores) …", flush=True)
            quantize_model(unquantized, partial, shape.quantize_to)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
        unquantized.unlink(missing_ok=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--shape", choices=sorted(SHAPES), required=True, help="which model to write"
    )
    parser.add_argument("--out", type=Path, required=True, help="the .gguf file to write")
    args = parser.parse_args(argv)
    path = write_test_model(args.shape, args.out)
    print(f"Wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
