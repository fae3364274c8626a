"""A model file that cannot be served stops `python -m pocketchat` at start with one sentence.

Not GGUF, truncated, corrupt (among them files llama.cpp itself aborts on), an unusable chat
template, or one that tries to leave the Jinja sandbox: exit status 1, no signal, no traceback,
and no template code run.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gguf
import pytest
from conftest import Figures, free_port

pytestmark = pytest.mark.reliability

# What a successful escape would do; the file must never appear.
MARKER_NAME = "template-code-ran"


@dataclass(frozen=True)
class Tiny:
    """tiny.gguf's bytes and where its fields lie, to spoil one thing at a time."""

    data: bytes
    reader: gguf.GGUFReader
    marker: Path

    def value_offset(self, field: gguf.ReaderField, part: int = -1) -> int:
        return field.offset + sum(p.nbytes for p in field.parts[:part])

    def patched(self, offset: int, value: bytes) -> bytes:
        return self.data[:offset] + value + self.data[offset + len(value) :]

    def set_part(self, key: str, part: int, value: bytes) -> bytes:
        """Part 2 of a metadata entry is its type, part 3 a string's length, -1 a number."""
        return self.patched(self.value_offset(self.reader.fields[key], part), value)

    def last_tensor(self, part: int, value: bytes) -> bytes:
        """Part 4 of a tensor entry is its type, part 5 its offset in the data section."""
        return self.patched(self.value_offset(self.reader.tensors[-1].field, part), value)

    def repeated_token(self) -> bytes:
        tokens = self.reader.fields["tokenizer.ggml.tokens"]
        first, second = tokens.data[0], tokens.data[1]
        assert tokens.parts[first].nbytes == tokens.parts[second].nbytes
        return self.patched(self.value_offset(tokens, second), bytes(tokens.parts[first]))

    def token_cut_by_a_nul(self) -> bytes:
        """A two-byte token whose first byte is a token too, with a NUL for its second byte."""
        tokens = self.reader.fields["tokenizer.ggml.tokens"]
        texts = [bytes(tokens.parts[index]) for index in tokens.data]
        index = next(i for i, text in enumerate(texts) if len(text) == 2 and text[:1] in texts)
        return self.patched(self.value_offset(tokens, tokens.data[index]) + 1, b"\0")

    def with_template(self, prefix: str) -> bytes:
        """The same model with `prefix` in front of its chat template (the last key: the tensor
        list follows it, and the data section moves to the next aligned offset)."""
        field = self.reader.fields["tokenizer.chat_template"]
        text = (prefix.replace("MARKER", str(self.marker)) + str(field.contents())).encode()
        last = self.reader.tensors[-1].field
        head = (
            self.data[: self.value_offset(field, 3)]
            + struct.pack("<Q", len(text))
            + text
            + self.data[self.value_offset(field, len(field.parts)) : self.value_offset(last, 6)]
        )
        padding = b"\0" * (-len(head) % self.reader.alignment)
        return head + padding + self.data[self.reader.data_offset :]


Case = Callable[[Tiny], bytes]
LAYERS, EPSILON = "qwen2.block_count", "qwen2.attention.layer_norm_rms_epsilon"
# fmt: off
CASES = [
    pytest.param(lambda t: b"I am not a model.\n", "it is not a GGUF model file", id="text"),
    pytest.param(lambda t: b"", "the file is empty", id="empty"),
    pytest.param(lambda t: b"\x89PNG\r\n\x1a\n" + bytes(64), "it is not a GGUF", id="png"),
    pytest.param(lambda t: t.data[:12], "the file is truncated", id="truncated-in-header"),
    pytest.param(lambda t: t.data[:5000], "the file is truncated", id="truncated-in-metadata"),
    pytest.param(lambda t: t.data[:22000], "the file is truncated", id="truncated-in-tensor-list"),
    pytest.param(lambda t: t.data[:-1000], "the file is truncated", id="truncated-in-data"),
    pytest.param(lambda t: t.set_part("general.architecture", 3, struct.pack("<Q", 2**62)),
                 "the file is corrupt", id="string-length-2^62"),
    pytest.param(lambda t: t.set_part("general.name", 2, struct.pack("<I", 99)),
                 "the file is corrupt", id="unknown-value-type"),
    pytest.param(lambda t: t.last_tensor(5, struct.pack("<Q", 2**40)),
                 "the file is corrupt", id="tensor-offset-beyond-the-file"),
    # Each of these passes llama.cpp's parser and then aborts the process (GGML_ASSERT), while
    # loading or at the first decode: found by fuzzing.
    pytest.param(lambda t: t.repeated_token(), "the file is corrupt", id="repeated-token"),
    pytest.param(lambda t: t.token_cut_by_a_nul(), "the file is corrupt", id="nul-in-a-token"),
    pytest.param(lambda t: t.set_part(LAYERS, -1, struct.pack("<I", 0)),
                 "the file is corrupt", id="zero-layers"),
    pytest.param(lambda t: t.set_part(EPSILON, -1, struct.pack("<f", -1)),
                 "the file is corrupt", id="negative-epsilon"),
    pytest.param(lambda t: t.last_tensor(4, struct.pack("<I", 1)),
                 "the file is corrupt", id="f16-norm-weight"),
    # Found unservable only once llama.cpp or the prompt builder has it, while the server
    # already listens: it stops.
    pytest.param(lambda t: t.set_part("general.architecture", -1, b"qwen9"),
                 "llama.cpp cannot load it", id="unknown-architecture"),
    pytest.param(lambda t: t.with_template("{{ raise_exception('no conversation') }}"),
                 "the model's chat template failed", id="template-refusing-every-conversation"),
    pytest.param(lambda t: t.with_template("{% if %}"),
                 "its chat template is unusable", id="template-syntax-error"),
    # Escapes that work against unsandboxed Jinja (as in llama-cpp-python's CVE-2024-34359).
    pytest.param(lambda t: t.with_template("{{ ''.__class__.__mro__[1].__subclasses__() }}"),
                 "its chat template is unsafe", id="subclasses"),
    pytest.param(lambda t: t.with_template(
                     "{{ cycler.__init__.__globals__.os.system('touch MARKER') }}"),
                 "its chat template is unsafe", id="cycler-globals"),
    pytest.param(lambda t: t.with_template("{{ self._TemplateReference__context }}"),
                 "its chat template is unsafe", id="template-context"),
    pytest.param(lambda t: t.with_template(
                     "{% if tools %}{{ lipsum|attr('__globals__') }}{% endif %}"),
                 "its chat template is unsafe", id="attr-filter-on-a-branch-not-taken"),
    pytest.param(lambda t: t.with_template(
                     "{{ lipsum['__glo' ~ 'bals__']['os'].popen('touch MARKER').read() }}"),
                 "its chat template is unsafe", id="name-computed-at-run-time"),
]
# fmt: on
refused: list[str] = []


@pytest.fixture(scope="module")
def tiny(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    marker = tmp_path_factory.mktemp("escape") / MARKER_NAME
    return Tiny(tiny_model.read_bytes(), gguf.GGUFReader(tiny_model), marker)


@pytest.mark.parametrize(("spoil", "reason"), CASES)
def test_a_bad_model_file_is_refused_in_one_sentence(
    tiny: Tiny, tmp_path: Path, figures: Figures, spoil: Case, reason: str
) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(spoil(tiny))
    result = subprocess.run(
        [sys.executable, "-m", "pocketchat"],
        env={**os.environ, "MODEL_PATH": str(path), "PORT": str(free_port())},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    last_line = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1, result.stderr  # a signal would be negative
    assert last_line.startswith(f"pocketchat: cannot serve {path}: {reason}"), result.stderr
    assert "Traceback" not in result.stderr and not tiny.marker.exists()
    refused.append(reason)
    if len(refused) == len(CASES):
        figures.record(
            "Faults",
            f"{len(CASES)} bad model files (not GGUF, truncated, corrupt, unusable chat "
            "templates, Jinja sandbox escapes)",
            "each refused at start with one sentence; no crash, no template code run",
        )
