"""Whether a model file is safe to hand to llama.cpp: its GGUF header, read in Python.

llama.cpp's C++ loader stops the whole process (GGML_ASSERT, or a read out of bounds) on some
malformed files instead of returning an error, so every file passes this check first. It reads
the header only (metadata and tensor list: 1.8 MB of a 98 MB SmolLM2), never the tensor data.
The format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
"""

from __future__ import annotations

import math
import mmap
import struct
from pathlib import Path
from typing import Any

# Metadata value types: struct format of the fixed-size ones; 8 is a string, 9 an array.
SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?",
                  10: "Q", 11: "q", 12: "d"}  # fmt: skip
STRING, ARRAY = 8, 9
F32 = 0
# ggml tensor type → (values per block, bytes per block), as in gguf-py's GGML_QUANT_SIZES.
BLOCKS = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
          9: (32, 40), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176),
          14: (256, 210), 15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98),
          19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82), 23: (256, 136), 24: (1, 1),
          25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
          34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18)}  # fmt: skip
MAX_LAYERS = 512  # llama.cpp's LLAMA_MAX_LAYERS: it asserts 0 < block_count <= 512
MAX_DIMS, MAX_NAME = 4, 64  # GGML_MAX_DIMS, GGML_MAX_NAME
MAX_COUNT = 1_000_000
MAX_LENGTH = 2**31  # bytes in one metadata value: a vocabulary takes a few MB


class BadModelFile(ValueError):
    """A file that cannot be served; the message says why, as in 'the file is truncated (...)'."""


def corrupt(detail: str) -> BadModelFile:
    return BadModelFile(f"the file is corrupt ({detail})")


class _Reader:
    """Reads the mapped header. Running past the end is truncation, unless the length that
    does so is one no metadata could have: that is corruption."""

    def __init__(self, data: mmap.mmap, size: int) -> None:
        self.data, self.size, self.pos = data, size, 0
        self.section = "header"

    def take(self, count: int, what: str) -> int:
        if self.pos + count > self.size:
            if count >= MAX_LENGTH:
                raise corrupt(f"{what} claims {count:,} bytes")
            raise BadModelFile(
                f"the file is truncated (it ends at {self.size:,} bytes, inside its {self.section})"
            )
        start, self.pos = self.pos, self.pos + count
        return start

    def scalar(self, fmt: str, what: str) -> Any:
        start = self.take(struct.calcsize(fmt), what)
        return struct.unpack_from("<" + fmt, self.data, start)[0]

    def string(self, what: str) -> bytes:
        length = self.scalar("Q", what)
        start = self.take(length, what)
        return self.data[start : start + length]

    def array(self, element_type: int, count: int, what: str) -> list[Any]:
        if element_type != STRING:
            fmt = SCALAR_FORMATS[element_type]
            start = self.take(count * struct.calcsize(fmt), what)
            return list(struct.unpack_from(f"<{count}{fmt}", self.data, start))
        if count >= MAX_LENGTH:
            raise corrupt(f"{what} claims {count:,} strings")
        return [self.string(what) for _ in range(count)]


def check_gguf_file(path: Path) -> dict[str, Any]:
    """The file's metadata; BadModelFile, saying what is wrong, unless llama.cpp can load it."""
    try:
        with path.open("rb") as file:
            size = path.stat().st_size
            if size == 0:
                raise BadModelFile("the file is empty")
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                metadata = _read_header(_Reader(data, size))
    except OSError as error:
        raise BadModelFile(f"the file cannot be read ({error.strerror or error})") from None
    return metadata


def _read_header(reader: _Reader) -> dict[str, Any]:
    """The metadata, once the header and the tensor list that follows it are found sound."""
    size = reader.size
    magic = bytes(reader.data[:4])
    if magic != b"GGUF":
        raise BadModelFile(f"it is not a GGUF model file (it starts with {magic!r}, not b'GGUF')")
    reader.take(4, "magic")
    version = reader.scalar("I", "version")
    if version not in (2, 3):
        endian = " (a big-endian file)" if version in (2 << 24, 3 << 24) else ""
        raise BadModelFile(f"it is GGUF version {version}{endian}; llama.cpp reads versions 2-3")
    tensor_count, kv_count = reader.scalar("Q", "tensor count"), reader.scalar("Q", "key count")
    # Real models have a few dozen keys and at most some thousands of tensors; a count past
    # this is a corrupt one (a merely large one ends at the end of the file, as truncation).
    if max(tensor_count, kv_count) > MAX_COUNT:
        raise corrupt(f"it claims {kv_count:,} metadata keys and {tensor_count:,} tensors")
    reader.section = "metadata"
    metadata: dict[str, Any] = {}
    for index in range(kv_count):
        key = reader.string(f"metadata key {index}").decode("utf-8", errors="replace")
        if key in metadata:
            raise corrupt(f"the metadata key {key!r} appears twice")
        value_type = reader.scalar("I", key)
        if value_type == ARRAY:
            element_type, count = reader.scalar("I", key), reader.scalar("Q", key)
            # llama.cpp reads no array of arrays.
            if element_type != STRING and element_type not in SCALAR_FORMATS:
                raise corrupt(f"{key} is an array of unknown type {element_type}")
            metadata[key] = reader.array(element_type, count, key)
        elif value_type == STRING:
            metadata[key] = reader.string(key).decode("utf-8", errors="replace")
        elif value_type in SCALAR_FORMATS:
            metadata[key] = reader.scalar(SCALAR_FORMATS[value_type], key)
        else:
            raise corrupt(f"{key} has unknown type {value_type}")
    _check_values(metadata)
    alignment = metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise corrupt(f"general.alignment {alignment!r} is not a power of two")

    reader.section = "tensor list"
    names: set[bytes] = set()
    expected_offset = data_end = 0
    for index in range(tensor_count):
        name = reader.string(f"tensor {index}'s name")
        label = repr(name.decode("utf-8", errors="replace")[:MAX_NAME])
        if len(name) >= MAX_NAME or name in names:
            raise corrupt(f"tensor {index}'s name {label} is too long or repeated")
        names.add(name)
        n_dims = reader.scalar("I", label)
        if n_dims > MAX_DIMS:
            raise corrupt(f"tensor {label} has {n_dims:,} dimensions")
        dims = [reader.scalar("Q", label) for _ in range(n_dims)]
        tensor_type, offset = reader.scalar("I", label), reader.scalar("Q", label)
        if tensor_type not in BLOCKS:
            raise corrupt(f"tensor {label} has unknown type {tensor_type}")
        block_values, block_bytes = BLOCKS[tensor_type]
        elements = math.prod(dims)
        if max(dims, default=0) >= 2**63 or elements >= 2**63 or (dims and dims[0] % block_values):
            raise corrupt(f"tensor {label} has impossible dimensions {dims}")
        if n_dims == 1 and tensor_type != F32:
            # Norms and biases: ggml adds and multiplies by them in F32 only, and aborts
            # mid-reply otherwise; every converter and quantizer keeps them in F32.
            raise corrupt(
                f"tensor {label} is one-dimensional and of ggml type {tensor_type}, not F32"
            )
        if offset != expected_offset:
            raise corrupt(f"tensor {label} starts at {offset:,}, not {expected_offset:,}")
        # llama.cpp wants each tensor where the previous one ends, padded to the alignment.
        data_end = offset + elements // block_values * block_bytes
        expected_offset = _padded(data_end, alignment)
    data_offset = _padded(reader.pos, alignment)
    if data_offset + data_end > size:
        raise BadModelFile(
            f"the file is truncated (it ends at {size:,} bytes; its tensors need "
            f"{data_offset + data_end:,})"
        )
    return metadata


def _check_values(metadata: dict[str, Any]) -> None:
    """Values llama.cpp asserts on rather than reports, found by fuzzing the test models; and
    numbers that are not finite, which no model has."""
    for key, value in metadata.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise corrupt(f"{key} is {value}")
        if key.endswith("epsilon") and isinstance(value, float) and value < 0:
            raise corrupt(f"{key} is {value}, below 0")
    architecture = metadata.get("general.architecture")
    layers = metadata.get(f"{architecture}.block_count")
    if isinstance(layers, int) and not 0 < layers <= MAX_LAYERS:
        raise corrupt(f"{architecture}.block_count is {layers:,}; models have 1-{MAX_LAYERS}")
    seen: set[bytes] = set()
    for token in metadata.get("tokenizer.ggml.tokens", ()):
        text = token.partition(b"\0")[0]  # llama.cpp reads it as a C string: up to a NUL byte
        if text in seen:
            raise corrupt(f"tokenizer.ggml.tokens lists {text!r} twice")
        seen.add(text)


def _padded(offset: int, alignment: int) -> int:
    return offset + (-offset) % alignment
