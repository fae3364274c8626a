"""Kept KV caches: a conversation that lost its slot comes back without reading its history again.

When a slot is given to another conversation, the engine saves the sequence it held (llama.cpp's
per-sequence state, about 12 KB a token for Qwen2.5-0.5B) here. A request whose prompt starts
with kept tokens restores them into its slot and reads only the rest: a memory copy of a few
milliseconds against 7 ms *per token* of prefill on two cores.

Two tiers, each least-recently-used and bounded in bytes: RAM, and files under
`DATA_DIR/kv-cache/<fingerprint>/` that survive a restart. The fingerprint covers the model file's
sha256 and every setting that shapes a sequence's state (context per sequence, sequences,
llama.cpp's version); a directory of another fingerprint is deleted at start. Every file carries
a CRC-32 of its tokens and state: a truncated, damaged or foreign file is deleted with a log line
and never given to llama.cpp.

Files are written by a thread of their own (the decode loop only hands the bytes over) and read
by the requesting HTTP thread before its request is queued, so neither stalls a decode step.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mmap
import os
import queue
import shutil
import struct
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

log = logging.getLogger(__name__)

# A saved sequence state: an anonymous mapping (engine/llama.py), whose pages go back to the
# system when it is dropped, or a private mapping of its file.
State = mmap.mmap | bytearray | memoryview

MAGIC = b"PCKVSNAP"
FORMAT_VERSION = 1
# magic, format version, header length; then the JSON header, the tokens (int32), the state.
_PREAMBLE = struct.Struct("<8sII")
SUFFIX = ".kv"
# Writes waiting for the disk at most: more are dropped (the RAM copy still serves).
MAX_PENDING_WRITES = 8
# Kept states per tier at most, least recently used out first: every admission compares the
# prompt with each of them (microseconds apiece), and a conversation keeps one state however
# long it grows.
MAX_ENTRIES = 128
_STOP = object()


def fingerprint(model_sha256: str, **settings: object) -> str:
    """What a saved state depends on: the model's bytes and the context's shape."""
    described = json.dumps(
        {"format": FORMAT_VERSION, "model_sha256": model_sha256, **settings}, sort_keys=True
    )
    return hashlib.sha256(described.encode()).hexdigest()[:24]


def file_sha256(path: Path, known: Path | None = None) -> str:
    """The model file's sha256: from the downloader's record (`<file>.verified`) or from the
    JSON file `known` (path → size, mtime, sha256) when either matches the file's size and
    mtime; else computed (about a second per 500 MB) and noted in `known`, so that a restart
    finds its snapshots at once."""
    stat = path.stat()
    key = str(path.resolve())
    records = _json_object(known) if known is not None else {}
    for noted in (_json_object(path.with_name(path.name + ".verified")), records.get(key)):
        if (
            isinstance(noted, dict)
            and noted.get("size") == stat.st_size
            and noted.get("mtime_ns") == stat.st_mtime_ns
            and isinstance(noted.get("sha256"), str)
        ):
            return str(noted["sha256"])
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    if known is not None:
        records[key] = {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "sha256": digest.hexdigest(),
        }
        with contextlib.suppress(OSError):
            known.parent.mkdir(parents=True, exist_ok=True)
            temporary = known.with_suffix(".tmp")
            temporary.write_text(json.dumps(records))
            os.replace(temporary, known)
    return digest.hexdigest()


def _json_object(path: Path) -> dict[str, object]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def token_key(tokens: np.ndarray) -> str:
    return hashlib.sha256(tokens.tobytes()).hexdigest()[:32]


def shared_length(kept: np.ndarray, prompt: np.ndarray) -> int:
    """How many leading tokens two token arrays share."""
    length = min(len(kept), len(prompt))
    if length == 0:
        return 0
    differ = np.flatnonzero(kept[:length] != prompt[:length])
    return int(differ[0]) if len(differ) else length


@dataclass
class Entry:
    key: str
    tokens: np.ndarray  # int32
    size: int  # bytes of state
    data: State | None = field(default=None, repr=False)  # the state, in RAM
    path: Path | None = None  # the state, on disk


@dataclass(frozen=True)
class Match:
    """A kept state whose tokens start like a prompt; `data` is loaded (None: not yet)."""

    entry: Entry
    shared: int
    tier: str  # "ram" or "disk"
    data: State | None


class SnapshotStore:
    """Kept sequence states by their tokens, in RAM and on disk (either bound may be 0: off)."""

    def __init__(
        self,
        ram_bytes: int,
        disk_bytes: int,
        directory: Path | None,
        describe: Callable[[], str],
    ) -> None:
        """`describe` gives the fingerprint; it may take a while (hashing the model), so the
        writer thread calls it, and the disk tier opens once it returns."""
        self.ram_bytes = ram_bytes
        self.disk_bytes = disk_bytes if directory is not None else 0
        self._root = directory
        self._describe = describe
        self._ram: OrderedDict[str, Entry] = OrderedDict()  # least recently used first
        self._disk: OrderedDict[str, Entry] = OrderedDict()
        self._ram_used = 0
        self._disk_used = 0
        self._directory: Path | None = None
        self._fingerprint: str | None = None
        self._lock = threading.Lock()
        self._writes: queue.Queue[object] = queue.Queue()
        self._pending = 0
        self._disk_ready = threading.Event()
        self.saved = self.restored = self.discarded = self.dropped_writes = 0
        self._writer: threading.Thread | None = None
        if self.disk_bytes > 0:
            self._writer = threading.Thread(target=self._write_loop, name="kv-writer", daemon=True)
            self._writer.start()
        else:
            self._disk_ready.set()

    @property
    def enabled(self) -> bool:
        return self.ram_bytes > 0 or self.disk_bytes > 0

    def wait_ready(self, timeout: float) -> bool:
        """Whether the disk tier has opened (or there is none) within `timeout` seconds."""
        return self._disk_ready.wait(timeout)

    # ---- finding ----

    def best(
        self, prompt: Sequence[int], *, at_least: int, in_ram_only: bool = False
    ) -> Match | None:
        """The kept state sharing the most leading tokens with `prompt` (at least `at_least`);
        a RAM entry comes with its bytes, a disk entry without (`load` reads it)."""
        wanted = np.asarray(prompt, dtype=np.int32)
        best: tuple[int, str, Entry] | None = None
        with self._lock:
            tiers = [("ram", self._ram)] + ([] if in_ram_only else [("disk", self._disk)])
            for tier, entries in tiers:
                for entry in entries.values():
                    shared = shared_length(entry.tokens, wanted)
                    if shared >= at_least and (best is None or shared > best[0]):
                        best = (shared, tier, entry)
            if best is None:
                return None
            shared, tier, entry = best
            if tier == "ram":
                self._ram.move_to_end(entry.key)
                return Match(entry, shared, tier, entry.data)
        return Match(entry, shared, tier, None)

    def load(self, match: Match) -> Match | None:
        """`match` with its state read from disk and checked; None if the file is gone or bad
        (a bad file is deleted). Call outside the decode loop: it reads the whole state."""
        if match.data is not None:
            return match
        entry = match.entry
        if entry.path is None:
            return None
        data = self._read(entry.path, expect_tokens=entry.tokens)
        with self._lock:
            if data is None:
                self._forget_disk(entry.key)
                return None
            if entry.key in self._disk:
                self._disk.move_to_end(entry.key)
        _touch(entry.path)
        return Match(entry, match.shared, match.tier, data)

    # ---- keeping ----

    def covers(self, tokens: Sequence[int]) -> bool:
        """Whether a kept state already holds `tokens` (or more after them)."""
        with self._lock:
            return self._covered(np.asarray(tokens, dtype=np.int32))

    def _covered(self, tokens: np.ndarray) -> bool:
        return any(
            _is_prefix(tokens, kept.tokens) for kept in (*self._ram.values(), *self._disk.values())
        )

    def keep(self, tokens: Sequence[int], data: State) -> bool:
        """Keep the state of `tokens` unless a kept one already holds them; kept states that
        are a prefix of them are replaced (the new one restores them just as well). Returns at
        once: the file is written by the writer thread."""
        array = np.asarray(tokens, dtype=np.int32)
        entry = Entry(token_key(array), array, len(data))
        with self._lock:
            if self._covered(array):
                return False
            for key in [k for k, kept in self._ram.items() if _is_prefix(kept.tokens, array)]:
                self._ram_used -= self._ram.pop(key).size
            if 0 < len(data) <= self.ram_bytes:
                entry.data = data
                self._ram[entry.key] = entry
                self._ram_used += entry.size
                while self._ram_used > self.ram_bytes or len(self._ram) > MAX_ENTRIES:
                    self._evict_ram()
            self.saved += 1
            if self._writer is not None and len(data) <= self.disk_bytes:
                if self._pending < MAX_PENDING_WRITES:
                    self._pending += 1
                    self._writes.put((entry, data))
                else:
                    self.dropped_writes += 1
        return True

    def note_restored(self) -> None:
        with self._lock:
            self.restored += 1

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "ram_entries": len(self._ram),
                "ram_bytes": self._ram_used,
                "disk_entries": len(self._disk),
                "disk_bytes": self._disk_used,
                "saved": self.saved,
                "restored": self.restored,
                "discarded": self.discarded,
            }

    def flush(self, timeout: float) -> bool:
        """Wait until every kept state is on disk (shutdown); False if `timeout` passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._pending == 0:
                    return True
            time.sleep(0.01)
        return False

    def close(self, timeout: float = 10.0) -> None:
        if self._writer is not None and self._writer.is_alive():
            self._writes.put(_STOP)
            self._writer.join(timeout)

    # ---- RAM and disk bookkeeping (under the lock) ----

    def _evict_ram(self) -> None:
        _, entry = self._ram.popitem(last=False)
        self._ram_used -= entry.size
        entry.data = None

    def _forget_disk(self, key: str, *, delete: bool = False) -> None:
        entry = self._disk.pop(key, None)
        if entry is None:
            return
        self._disk_used -= entry.size
        if delete and entry.path is not None:
            entry.path.unlink(missing_ok=True)

    # ---- the writer thread ----

    def _write_loop(self) -> None:
        try:
            self._open_disk()
        except Exception:
            log.exception("the KV cache directory cannot be used; keeping snapshots in RAM only")
            self.disk_bytes = 0
        finally:
            self._disk_ready.set()
        while (item := self._writes.get()) is not _STOP:
            assert isinstance(item, tuple)
            entry, data = item
            try:
                if self.disk_bytes > 0:
                    self._write(entry, data)
            except OSError as error:
                log.warning("could not write a KV snapshot (%s); it stays in RAM only", error)
            finally:
                with self._lock:
                    self._pending -= 1

    def _open_disk(self) -> None:
        assert self._root is not None
        self._fingerprint = self._describe()
        self._root.mkdir(parents=True, exist_ok=True)
        for other in self._root.iterdir():
            if other.is_dir() and other.name != self._fingerprint:
                log.info("dropping KV snapshots of another model or settings: %s", other.name)
                shutil.rmtree(other, ignore_errors=True)
        directory = self._root / self._fingerprint
        directory.mkdir(exist_ok=True)
        found: list[tuple[float, Entry]] = []
        for path in directory.iterdir():
            if path.suffix != SUFFIX:
                path.unlink(missing_ok=True)  # an unfinished write
                continue
            header = self._read_header(path)
            if header is None:
                continue
            tokens, size = header
            found.append((path.stat().st_mtime, Entry(path.stem, tokens, size, path=path)))
        with self._lock:
            for _, entry in sorted(found, key=lambda pair: pair[0]):
                self._disk[entry.key] = entry
                self._disk_used += entry.size
            self._directory = directory
            self._trim_disk(0)
        if found:
            log.info("%d KV snapshots on disk (%.0f MB)", len(self._disk), self._disk_used / 2**20)

    def _write(self, entry: Entry, data: State) -> None:
        directory = self._directory
        assert directory is not None and self._fingerprint is not None
        with self._lock:
            if any(_is_prefix(entry.tokens, e.tokens) for e in self._disk.values()):
                return  # a longer state of the same conversation is already on disk
            for key in [k for k, e in self._disk.items() if _is_prefix(e.tokens, entry.tokens)]:
                self._forget_disk(key, delete=True)
            self._trim_disk(entry.size)
        tokens = entry.tokens.tobytes()
        header = json.dumps(
            {
                "fingerprint": self._fingerprint,
                "n_tokens": len(entry.tokens),
                "state_bytes": len(data),
                "crc32": zlib.crc32(data, zlib.crc32(tokens)),
            }
        ).encode()
        path = directory / f"{entry.key}{SUFFIX}"
        temporary = path.with_suffix(".tmp")
        with temporary.open("wb") as file:
            file.write(_PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header)))
            file.write(header)
            file.write(tokens)
            file.write(data)
        os.replace(temporary, path)
        with self._lock:
            # Kept again meanwhile by a longer state of its conversation: not worth a place.
            superseded = any(
                _is_prefix(entry.tokens, e.tokens) and e.key != entry.key
                for e in (*self._ram.values(), *self._disk.values())
            )
            if superseded:
                path.unlink(missing_ok=True)
                return
            previous = self._disk.pop(entry.key, None)
            if previous is not None:
                self._disk_used -= previous.size
            self._disk[entry.key] = Entry(entry.key, entry.tokens, entry.size, path=path)
            self._disk_used += entry.size

    def _trim_disk(self, room: int) -> None:
        while self._disk and (
            self._disk_used + room > self.disk_bytes or len(self._disk) >= MAX_ENTRIES
        ):
            key = next(iter(self._disk))
            self._forget_disk(key, delete=True)

    # ---- reading files ----

    def _read_header(self, path: Path) -> tuple[np.ndarray, int] | None:
        """A file's tokens and state size, if its preamble and header are sound."""
        try:
            with path.open("rb") as file:
                header = self._header(file.read(_PREAMBLE.size), file, path)
                if header is None:
                    return None
                tokens = np.frombuffer(file.read(4 * header["n_tokens"]), dtype=np.int32)
            expected = (
                _PREAMBLE.size + header["length"] + 4 * header["n_tokens"] + header["state_bytes"]
            )
            if len(tokens) != header["n_tokens"] or path.stat().st_size != expected:
                self._discard(path, "truncated")
                return None
            return tokens.copy(), int(header["state_bytes"])
        except OSError as error:
            self._discard(path, str(error))
            return None

    def _header(self, preamble: bytes, file: BinaryIO, path: Path) -> dict[str, int] | None:
        read = file.read
        if len(preamble) != _PREAMBLE.size:
            self._discard(path, "truncated")
            return None
        magic, version, length = _PREAMBLE.unpack(preamble)
        if magic != MAGIC or version != FORMAT_VERSION or length > 4096:
            self._discard(path, "not a snapshot of this version")
            return None
        try:
            header = json.loads(read(length))
            fields = {key: int(header[key]) for key in ("n_tokens", "state_bytes", "crc32")}
        except (ValueError, KeyError, TypeError):
            self._discard(path, "unreadable header")
            return None
        if header.get("fingerprint") != self._fingerprint:
            self._discard(path, "made for another model or settings")
            return None
        if fields["n_tokens"] <= 0 or fields["state_bytes"] <= 0:
            self._discard(path, "empty")
            return None
        return {**fields, "length": length}

    def _read(self, path: Path, expect_tokens: np.ndarray) -> State | None:
        """The state in `path`, checked, as a private copy-on-write mapping of the file: a
        request waiting in the queue with it holds page cache, not memory of its own."""
        try:
            with path.open("rb") as file:
                header = self._header(file.read(_PREAMBLE.size), file, path)
                if header is None:
                    return None
                start = file.tell()
                mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY)
        except FileNotFoundError:
            return None  # dropped meanwhile (another replica sharing the directory, LRU)
        except (OSError, ValueError) as error:
            self._discard(path, str(error))
            return None
        tokens_end = start + 4 * header["n_tokens"]
        if len(mapped) != tokens_end + header["state_bytes"]:
            self._discard(path, "truncated")
            return None
        tokens, data = memoryview(mapped)[start:tokens_end], memoryview(mapped)[tokens_end:]
        if zlib.crc32(data, zlib.crc32(tokens)) != header["crc32"]:
            self._discard(path, "checksum mismatch")
            return None
        if tokens != expect_tokens.tobytes():
            self._discard(path, "tokens differ from its index entry")
            return None
        return data

    def _discard(self, path: Path, reason: str) -> None:
        log.warning("discarding KV snapshot %s: %s", path.name, reason)
        path.unlink(missing_ok=True)
        with self._lock:
            self.discarded += 1


def _is_prefix(short: np.ndarray, long: np.ndarray) -> bool:
    return len(short) <= len(long) and shared_length(short, long) == len(short)


def _touch(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.utime(path)
