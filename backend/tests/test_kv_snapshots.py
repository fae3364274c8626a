"""Kept KV caches: a conversation that lost its slot, or a server restarted, comes back without
reading its history again, and answers exactly as if it had kept its slot; damaged, truncated or
foreign snapshot files are discarded, never given to llama.cpp."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bench.client import Frame
from bench.server import ServerProcess
from conftest import chat_body, content_of, make_settings, stream_chat
from pocketchat.engine.engine import Engine
from pocketchat.engine.llama import LlamaModel
from pocketchat.engine.snapshots import (
    MAX_ENTRIES,
    SUFFIX,
    SnapshotStore,
    file_sha256,
    fingerprint,
)
from pocketchat.engine.types import (
    Finished,
    GenerationRequest,
    Progress,
    SamplerConfig,
    Started,
)
from pocketchat.runtime import engine_config

GREEDY = SamplerConfig.greedy()
MB = 2**20


def store_at(
    directory: Path | None, *, ram: int = 64 * MB, disk: int = 64 * MB, **shape: object
) -> SnapshotStore:
    store = SnapshotStore(ram, disk, directory, lambda: fingerprint("model", **(shape or {"n": 1})))
    assert store.wait_ready(10)
    return store


def state(size: int, seed: int = 0) -> bytearray:
    return bytearray(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())


def files(directory: Path) -> list[Path]:
    return sorted(directory.rglob(f"*{SUFFIX}"))


# ---- the store alone ----


def test_the_longest_kept_prefix_is_found_and_a_longer_state_replaces_its_prefix(
    tmp_path: Path,
) -> None:
    store = store_at(None, disk=0)
    assert store.keep([1, 2, 3, 4], state(100, 1))
    assert store.keep([9, 9, 9], state(100, 2))
    match = store.best([1, 2, 3, 4, 5, 6], at_least=2)
    assert match is not None and (match.shared, match.tier, match.data) == (4, "ram", state(100, 1))
    assert store.best([1, 7], at_least=2) is None  # shares one token: below the bar
    # The conversation went on: its longer state replaces the shorter one, which it covers.
    assert store.keep([1, 2, 3, 4, 5, 6, 7], state(100, 3))
    assert store.stats()["ram_entries"] == 2
    assert store.covers([1, 2, 3, 4]) and not store.keep([1, 2, 3], state(100, 4))
    match = store.best([1, 2, 3, 4, 8], at_least=2)
    assert match is not None and match.shared == 4 and match.data == state(100, 3)


def test_ram_is_bounded_in_bytes_least_recently_used_first() -> None:
    store = store_at(None, ram=300, disk=0)
    for first in range(3):
        store.keep([first, 100], state(100, first))
    assert store.best([0, 100], at_least=2) is not None  # 0 is now the most recently used
    store.keep([3, 100], state(100, 3))
    assert store.stats()["ram_bytes"] == 300
    assert store.best([1, 100], at_least=2) is None
    assert {0, 2, 3} == {k for k in range(4) if store.best([k, 100], at_least=2) is not None}
    store.keep([4, 100], state(400, 4))  # bigger than the whole tier: not kept in RAM
    assert store.best([4, 100], at_least=2) is None


def test_kept_states_survive_a_restart_on_disk(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.keep([5, 6, 7, 8], state(1000, 5))
    assert store.flush(10)
    store.close()
    reopened = store_at(tmp_path)
    match = reopened.best([5, 6, 7, 8, 9], at_least=2)
    assert match is not None and (match.tier, match.data) == ("disk", None)
    loaded = reopened.load(match)
    assert loaded is not None and loaded.data is not None
    assert bytes(loaded.data) == state(1000, 5)


def test_the_disk_is_bounded_and_ram_off_still_keeps_on_disk(tmp_path: Path) -> None:
    store = store_at(tmp_path, ram=0, disk=2500)
    for first in range(4):
        store.keep([first, 1, 1], state(1000, first))
        assert store.flush(10)
    assert store.stats()["ram_entries"] == 0
    assert len(files(tmp_path)) == 2 and store.stats()["disk_bytes"] == 2000
    assert store.best([0, 1, 1], at_least=2) is None
    match = store.best([3, 1, 1], at_least=2)
    assert match is not None and store.load(match) is not None


def test_both_tiers_off_turns_keeping_off(tmp_path: Path) -> None:
    assert not store_at(tmp_path, ram=0, disk=0).enabled
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "damage",
    ["flip a state byte", "flip a token", "truncate", "append", "garbage", "empty"],
)
def test_a_damaged_snapshot_file_is_discarded_with_a_log_line(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = store_at(tmp_path)
    store.keep([1, 2, 3, 4], state(5000, 1))
    assert store.flush(10)
    store.close()
    (path,) = files(tmp_path)
    raw = bytearray(path.read_bytes())
    if damage == "flip a state byte":
        raw[-100] ^= 0xFF
    elif damage == "flip a token":
        raw[-5000 - 8] ^= 0x01
    elif damage == "truncate":
        del raw[-1:]
    elif damage == "append":
        raw += b"\0"
    elif damage == "garbage":
        raw = bytearray(state(len(raw), 9))
    else:
        raw = bytearray()
    path.write_bytes(bytes(raw))
    caplog.set_level(logging.WARNING, "pocketchat.engine.snapshots")
    reopened = store_at(tmp_path)
    match = reopened.best([1, 2, 3, 4], at_least=2)
    if match is not None:  # the header held: the damage shows when the state is read
        assert reopened.load(match) is None
    assert not path.exists()
    assert reopened.stats()["discarded"] == 1
    assert "discarding KV snapshot" in caplog.text
    assert reopened.best([1, 2, 3, 4], at_least=2) is None


def test_snapshots_of_another_model_or_settings_are_dropped(tmp_path: Path) -> None:
    store = store_at(tmp_path, n_ctx_per_seq=2048)
    store.keep([1, 2, 3], state(100))
    assert store.flush(10)
    (old,) = files(tmp_path)
    # A file copied into the new directory is refused by its header's fingerprint as well.
    other = store_at(tmp_path, n_ctx_per_seq=4096)
    assert not old.exists()
    assert other.best([1, 2, 3], at_least=2) is None
    foreign = next(p for p in tmp_path.iterdir() if p.is_dir()) / old.name
    foreign.write_bytes(b"")
    (tmp_path / next(p.name for p in tmp_path.iterdir()) / "left.tmp").write_bytes(b"x")
    again = store_at(tmp_path, n_ctx_per_seq=4096)
    assert not foreign.exists() and not list(tmp_path.rglob("*.tmp"))
    assert again.stats()["disk_entries"] == 0


# ---- the engine with a store: SmolLM2 ----

SYSTEM = "You are a helpful assistant who answers in short sentences. " * 4


def start(model: Path, directory: Path | None, engines: list[Engine], parallel: int) -> Engine:
    settings = make_settings(model, parallel=parallel, n_batch=128, n_ubatch=128)
    store = None if directory is None else store_at(directory, ram=256 * MB, disk=256 * MB)
    engine = Engine(
        LlamaModel(model, use_mmap=True, use_mlock=False), engine_config(settings), store
    )
    engines.append(engine)
    return engine


@pytest.fixture
def started() -> Callable[..., Engine]:
    engines: list[Engine] = []

    def make(model: Path, directory: Path | None, parallel: int = 2) -> Engine:
        return start(model, directory, engines, parallel)

    yield make
    for engine in engines:
        if engine.shutdown():
            engine.model.close()


def run(
    engine: Engine, prompt: list[int], max_tokens: int = 10
) -> tuple[Started, Finished, list[Progress]]:
    handle = engine.submit(GenerationRequest("t", tuple(prompt), max_tokens, GREEDY))
    started, progress = None, []
    while not isinstance(event := handle.next_event(120), Finished):
        if isinstance(event, Started):
            started = event
        elif isinstance(event, Progress):
            progress.append(event)
        assert event is not None, "no event for 120 s"
    assert started is not None
    return started, event, progress


class Talk:
    """A conversation's tokens: an opener, then each reply and a follow-up."""

    def __init__(self, engine: Engine, topic: str) -> None:
        self.tokens = engine.model.tokenize(
            f"{SYSTEM}\nUser: tell me about {topic}. " * 3, special=False
        )

    def follow_up(self, engine: Engine, text: str) -> None:
        self.tokens += engine.model.tokenize(f"\nUser: {text}\nAssistant:", special=False)


TOPICS = ["ships", "mountains", "rivers", "bread"]


def take_turns(engine: Engine, talks: list[Talk]) -> None:
    for talk in talks:
        _, finished, _ = run(engine, talk.tokens)
        talk.tokens += list(finished.completion_token_ids)


def test_a_conversation_that_lost_its_slot_is_restored_and_answers_as_if_it_never_left(
    started: Callable[..., Engine], smollm2_model: Path, tmp_path: Path
) -> None:
    # The reference keeps every conversation in a slot of its own; the engine under test has
    # two slots for four conversations, so the first one's cache is given away twice over.
    reference = started(smollm2_model, None, parallel=4)
    engine = started(smollm2_model, tmp_path, parallel=2)
    expected, reference_cached = (), 0
    for runner in (reference, engine):
        talks = [Talk(runner, topic) for topic in TOPICS]
        take_turns(runner, talks)
        talks[0].follow_up(runner, "and then?")
        back, finished, _ = run(runner, talks[0].tokens)
        if runner is reference:
            expected = finished.completion_token_ids
            assert back.restored_tokens == 0 and back.cached_tokens > 100
        else:
            assert back.cached_tokens == reference_cached
            assert back.restored_tokens == back.cached_tokens
            assert finished.completion_token_ids == expected
            assert engine.restores >= 1 and engine.cache_mismatches() == []
            # Only the follow-up is read.
            assert (
                finished.timings.prompt_tokens_processed
                == len(talks[0].tokens) - back.cached_tokens
            )
        reference_cached = back.cached_tokens


def test_a_restarted_server_finds_its_conversations_on_disk(
    started: Callable[..., Engine], smollm2_model: Path, tmp_path: Path
) -> None:
    reference = started(smollm2_model, None, parallel=2)
    talk = Talk(reference, "ships")
    take_turns(reference, [talk])
    talk.follow_up(reference, "and then?")
    _, expected, _ = run(reference, talk.tokens)

    first = started(smollm2_model, tmp_path)
    mine = Talk(first, "ships")
    take_turns(first, [mine])
    mine.follow_up(first, "and then?")
    assert first.shutdown()  # keeps the slots' caches on disk
    first.model.close()

    second = started(smollm2_model, tmp_path)
    back, finished, _ = run(second, mine.tokens)
    assert back.restored_tokens > 100
    assert finished.completion_token_ids == expected.completion_token_ids
    assert second.cache_mismatches() == []


def test_a_damaged_snapshot_is_read_again_from_the_prompt(
    started: Callable[..., Engine], smollm2_model: Path, tmp_path: Path
) -> None:
    first = started(smollm2_model, tmp_path)
    talk = Talk(first, "rivers")
    take_turns(first, [talk])
    cold = run(started(smollm2_model, None), talk.tokens)[1]
    assert first.shutdown()
    first.model.close()
    for path in files(tmp_path):
        raw = bytearray(path.read_bytes())
        raw[-10] ^= 0xFF
        path.write_bytes(bytes(raw))

    second = started(smollm2_model, tmp_path)
    back, finished, _ = run(second, talk.tokens)
    assert back.restored_tokens == 0
    assert second.snapshots is not None and second.snapshots.stats()["discarded"] >= 1
    assert finished.completion_token_ids == cold.completion_token_ids
    assert second.cache_mismatches() == []


def test_a_new_conversation_starts_from_another_slots_copy_of_the_shared_start(
    started: Callable[..., Engine], smollm2_model: Path, tmp_path: Path
) -> None:
    engine = started(smollm2_model, tmp_path, parallel=2)
    system = engine.model.tokenize(SYSTEM * 3, special=False)
    first = system + engine.model.tokenize("\nUser: hello" + " there" * 150, special=False)
    run(engine, first)
    # The second conversation takes the empty slot (sharing only the system prompt does not make
    # it the owner of the first one's), and the system prompt comes from the first's slot.
    second = system + engine.model.tokenize("\nUser: good evening", special=False)
    back, finished, _ = run(engine, second)
    assert back.restored_tokens == back.cached_tokens >= len(system) - 1
    assert finished.completion_tokens > 0
    assert engine.cache_mismatches() == []
    # The first conversation still has its own slot and cache.
    again, _, _ = run(engine, [*first, 198])
    assert again.cached_tokens == len(first) and again.restored_tokens == 0


def test_prompt_reading_reports_its_progress_step_by_step(
    started: Callable[..., Engine], smollm2_model: Path
) -> None:
    engine = started(smollm2_model, None)
    prompt = engine.model.tokenize(SYSTEM * 8, special=False)
    assert len(prompt) > 300
    _, _, progress = run(engine, prompt, max_tokens=2)
    reading = [p for p in progress if p.reading]
    assert [p.done for p in reading] == list(range(0, len(prompt), 128))
    assert all(p.total == len(prompt) for p in progress)
    assert progress[-1].done == len(prompt) and progress[-1].tokens_per_second > 0


# ---- over HTTP: the stream shows the reading, and a restart keeps the cache ----


def prefill_statuses(frames: list[Frame]) -> list[dict[str, Any]]:
    return [
        frame["status"]
        for frame in frames
        if isinstance(frame, dict) and (frame.get("status") or {}).get("state") == "prefill"
    ]


def test_the_stream_shows_the_reading_and_a_restarted_server_restores_the_conversation(
    server_process: Callable[..., ServerProcess], smollm2_model: Path, tmp_path: Path
) -> None:
    settings = {"PARALLEL": "1", "N_BATCH": "64", "N_UBATCH": "64"}
    first = server_process(smollm2_model, **settings)
    messages = [{"role": "user", "content": "Tell me about the old harbour at night. " * 30}]
    frames = stream_chat(first.url, chat_body(messages=messages, max_tokens=8))
    total = frames[-2]["usage"]["prompt_tokens"]
    reading = prefill_statuses(frames)
    done = [status["prompt_tokens_done"] for status in reading]
    assert done == sorted(done) and done[-1] == total > 64 * 3
    assert {status["prompt_tokens_total"] for status in reading} == {total}
    assert reading[0]["prompt_tokens_restored"] == 0 and "eta_ms" in reading[-1]

    first.stop()  # SIGTERM: the slot's cache is written to DATA_DIR (the servers share it)
    assert len(files(tmp_path / "data" / "kv-cache")) == 1
    messages += [
        {"role": "assistant", "content": content_of(frames)},
        {"role": "user", "content": "And then?"},
    ]
    second = server_process(smollm2_model, **settings)
    frames = stream_chat(second.url, chat_body(messages=messages, max_tokens=8))
    reading = prefill_statuses(frames)
    cached = frames[-2]["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert reading[0]["prompt_tokens_restored"] == cached >= total - 1
    assert content_of(frames)
    assert second.metric("pocketchat_kv_snapshot_restores") == 1
    assert second.metric("pocketchat_kv_snapshot_bytes", tier="disk") > 0


def test_the_model_hash_is_noted_so_a_restart_need_not_read_the_model_again(
    tmp_path: Path,
) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"weights" * 1000)
    known = tmp_path / "kv-cache" / "models.json"
    first = file_sha256(model, known)
    assert first == hashlib.sha256(b"weights" * 1000).hexdigest()
    # Same size and mtime: the note answers, without reading the file.
    stat = model.stat()
    model.write_bytes(b"WEIGHTS" * 1000)
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_sha256(model, known) == first
    # A changed file (another mtime) is hashed again.
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert file_sha256(model, known) == hashlib.sha256(b"WEIGHTS" * 1000).hexdigest()
    known.write_text("not json")
    assert file_sha256(model, known) == hashlib.sha256(b"WEIGHTS" * 1000).hexdigest()


def test_each_tier_keeps_a_bounded_number_of_states(tmp_path: Path) -> None:
    # Every admission compares the prompt with each kept state: their number is bounded too.
    store = store_at(tmp_path, ram=64 * MB, disk=64 * MB)
    for first in range(MAX_ENTRIES + 5):
        store.keep([first, 1, 2], state(10, first))
        assert store.flush(10)  # (at most MAX_PENDING_WRITES wait for the disk)
    stats = store.stats()
    assert stats["ram_entries"] == stats["disk_entries"] == MAX_ENTRIES
    assert len(files(tmp_path)) == MAX_ENTRIES
    assert store.best([0, 1, 2], at_least=2) is None  # the oldest went first
    assert store.best([MAX_ENTRIES + 4, 1, 2], at_least=2) is not None
