"""The knowledge base's speed in `make bench`: embedding throughput against raw llama.cpp, search
latency at 10,000 chunks, indexing a 100-page PDF, decode while indexing, and the memory the
embedder and the store add. Everything over HTTP against a live `python -m pocketchat`.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import requests
from pocketchat.knowledge.store import open_store

from bench.client import chat_body, stream_chat
from bench.product import conversation
from bench.recall import DATA, load_questions
from bench.report import MB, Target, summarize
from bench.server import ServerProcess

SCRIPTS = Path(__file__).resolve().parents[1]
MISSING_MODEL = "/nonexistent/no-embedder.gguf"  # EMBEDDING_MODEL_PATH that disables the KB


@dataclass(frozen=True)
class KnowledgeWork:
    reps: int
    embed_texts: int  # chunks per embedding-throughput round
    store_chunks: int  # the search store's size
    searches: int
    pdf_pages: int
    decode_tokens: int


def knowledge_work(quick: bool, reps: int | None) -> KnowledgeWork:
    if quick:
        return KnowledgeWork(reps or 1, 8, 500, 5, 3, 16)
    return KnowledgeWork(reps or 3, 64, 10_000, 100, 100, 128)


def sentences() -> list[str]:
    """The recall corpus cut into sentences and lines: the material of every synthetic chunk."""
    pieces: list[str] = []
    for path in sorted((DATA / "docs").iterdir()):
        for line in path.read_text().splitlines():
            line = line.strip().lstrip("#-0123456789. ").strip()
            if len(line) > 20 and not line.startswith("<"):
                pieces.append(line)
    return pieces


def chunk_texts(count: int, seed: int = 7) -> list[str]:
    """`count` passages of about 200 MiniLM tokens (under its 256-token budget), each a random
    run of real sentences: zh and en mixed as in the recall corpus."""
    rng = random.Random(seed)
    pool = sentences()
    texts = []
    for _ in range(count):
        text = ""
        while len(text.encode()) < 700:
            text += rng.choice(pool) + " "
        texts.append(text.strip())
    return texts


# ---- embeddings: product against raw ----


def product_embed_seconds(server: ServerProcess, texts: Sequence[str]) -> tuple[float, Any]:
    started = time.perf_counter()
    response = requests.post(
        f"{server.url}/v1/embeddings", json={"input": list(texts)}, timeout=600
    )
    seconds = time.perf_counter() - started
    response.raise_for_status()
    return seconds, response.json()


def raw_embed_seconds(model: Path, threads: int, texts: Sequence[str]) -> float:
    python_path = os.pathsep.join(filter(None, [str(SCRIPTS), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.embed_raw",
            "--model",
            str(model),
            "--threads",
            str(threads),
            "--reps",
            "2",
        ],
        input=json.dumps(list(texts)),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": python_path},
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"raw embedding failed ({done.returncode}):\n{done.stderr[-3000:]}")
    # The second repetition: the first pays llama.cpp's first-encode allocations, which the
    # product's warm-up request has paid too.
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"][-1])


# ---- the 10,000-chunk store ----


def fill_store(
    db_url: str,
    dimensions: int,
    texts: Sequence[str],
    vectors: Sequence[Sequence[float]],
    count: int,
) -> str:
    """A vector store of `count` chunks, written through the store API into the server's
    database: real texts, and vectors of real embeddings with noise (cosine about 0.9 to their
    source), so the similarities spread as real ones do. Returns its id."""
    rng = np.random.default_rng(11)
    base = np.asarray(vectors, dtype=np.float32)
    store = open_store(db_url, dimensions=dimensions)
    try:
        record = store.create_vector_store("bench-10k")
        per_file = 1000
        for first in range(0, count, per_file):
            size = min(per_file, count - first)
            picks = rng.integers(0, len(base), size)
            noisy = base[picks] + rng.normal(0, 0.025, (size, dimensions)).astype(np.float32)
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            chunks = [_Chunk(texts[(first + i) % len(texts)], first + i) for i in range(size)]
            file = store.add_file(f"synthetic-{first // per_file}.txt", b"x", "assistants")
            store.attach_file(record.id, file.id)
            store.complete(record.id, file.id, chunks, noisy.tolist())
        return record.id
    finally:
        store.close()


@dataclass(frozen=True)
class _Chunk:
    text: str
    number: int
    page: int | None = None

    @property
    def heading(self) -> str:
        return f"section {self.number}"

    @property
    def start(self) -> int:
        return 0

    @property
    def end(self) -> int:
        return len(self.text)


def search_ms(server: ServerProcess, store_id: str, query: str) -> float:
    started = time.perf_counter()
    response = requests.post(
        f"{server.url}/v1/vector_stores/{store_id}/search",
        json={"query": query, "max_num_results": 5},
        timeout=60,
    )
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed


# ---- the 100-page PDF ----


def print_pdf(pages: int, out: Path) -> Path:
    """A text PDF of `pages` pages printed by Debian's Chromium from the recall corpus."""
    pool = sentences()
    rng = random.Random(3)
    body = "".join(
        f'<section style="page-break-after: always"><h2>Section {page + 1}</h2>'
        + "".join(f"<p>{rng.choice(pool)} {rng.choice(pool)}</p>" for _ in range(9))
        + "</section>"
        for page in range(pages)
    )
    html = out.with_suffix(".html")
    html.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{body}</body>')
    subprocess.run(
        ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--no-pdf-header-footer", f"--print-to-pdf={out}", str(html)],
        capture_output=True, timeout=180, check=True,
    )  # fmt: skip
    return out


def start_index(server: ServerProcess, pdf: Path) -> tuple[str, str]:
    """Upload the PDF and attach it to a new vector store: (store id, file id)."""
    with pdf.open("rb") as handle:
        uploaded = requests.post(
            f"{server.url}/v1/files",
            files={"file": (pdf.name, handle, "application/pdf")},
            data={"purpose": "assistants"},
            timeout=120,
        )
    uploaded.raise_for_status()
    file_id = uploaded.json()["id"]
    store = requests.post(f"{server.url}/v1/vector_stores", json={"name": "pdf"}, timeout=30)
    store.raise_for_status()
    store_id = store.json()["id"]
    attached = requests.post(
        f"{server.url}/v1/vector_stores/{store_id}/files", json={"file_id": file_id}, timeout=30
    )
    attached.raise_for_status()
    return store_id, file_id


def job(server: ServerProcess, store_id: str, file_id: str) -> dict[str, Any]:
    return dict(server.get_json(f"/v1/vector_stores/{store_id}/files/{file_id}"))


def wait_indexed(server: ServerProcess, store_id: str, file_id: str) -> dict[str, Any]:
    while (state := job(server, store_id, file_id))["status"] == "in_progress":
        time.sleep(0.05)
    if state["status"] != "completed":
        raise RuntimeError(f"indexing the PDF ended {state['status']}: {state.get('last_error')}")
    return state


def decode_tps(server: ServerProcess, prompt: str, tokens: int) -> float | None:
    body = chat_body(conversation(prompt), tokens)
    result = stream_chat(server.port, body)
    if result.status != 200 or result.error:
        raise RuntimeError(f"decode: status {result.status}, error {result.error!r}")
    return result.decode_tps


# ---- the run ----


def measure_knowledge(
    server_env: dict[str, str],
    model_threads: int,
    work: KnowledgeWork,
    log_dir: Path,
    log: Callable[[str], None],
    prompt: str,
) -> dict[str, Any]:
    """Every knowledge measurement, product and raw rounds interleaved; raw numbers per round."""
    found: dict[str, Any] = {"rounds": {}}
    rounds: dict[str, list[float | None]] = found["rounds"]
    texts = chunk_texts(work.embed_texts)
    with tempfile.TemporaryDirectory(prefix="bench-knowledge-") as scratch:
        data_dir = Path(scratch) / "data"
        settings = {**server_env, "PARALLEL": "1", "DATA_DIR": str(data_dir)}
        log(f"knowledge: printing a {work.pdf_pages}-page PDF with Chromium")
        pdf = print_pdf(work.pdf_pages, Path(scratch) / f"{work.pdf_pages}-pages.pdf")
        with ServerProcess.start(settings, log_dir / "server-knowledge.log") as server:
            model_path = _embedding_model_path(settings)
            found["embedding_model"] = model_path.name
            product_embed_seconds(server, texts[:2])  # warm: first-call allocations
            for number in range(1, work.reps + 1):
                log(f"knowledge round {number}/{work.reps}: {len(texts)} chunks embedded, "
                    "product then raw")  # fmt: skip
                seconds, body = product_embed_seconds(server, texts)
                rounds.setdefault("product_embed_chunks_per_s", []).append(len(texts) / seconds)
                raw_seconds = raw_embed_seconds(model_path, model_threads, texts)
                rounds.setdefault("raw_embed_chunks_per_s", []).append(len(texts) / raw_seconds)
            found["embed_prompt_tokens"] = body["usage"]["prompt_tokens"]
            found["embed_chunks"] = len(texts)
            vectors = [item["embedding"] for item in body["data"]]
            decode_tps(server, prompt, 8)  # the first reply touches the compute buffers

            log(f"knowledge: a store of {work.store_chunks:,} chunks, then "
                f"{work.searches} searches")  # fmt: skip
            store_texts = chunk_texts(min(work.store_chunks, 2000), seed=13)
            built = time.perf_counter()
            store_id = fill_store(
                str(data_dir / "knowledge.db"), len(vectors[0]), store_texts, vectors,
                work.store_chunks,
            )  # fmt: skip
            found["store_build_s"] = round(time.perf_counter() - built, 1)
            questions = [q.question for q in load_questions()]
            found["search_cold_ms"] = search_ms(server, store_id, questions[0])
            latencies = [
                search_ms(server, store_id, questions[i % len(questions)])
                for i in range(work.searches)
            ]
            found["search_ms"] = latencies
            found["rss_with_knowledge_mb"] = server.rss_bytes() / MB

            for number in range(1, work.reps + 1):
                log(f"knowledge round {number}/{work.reps}: decode idle, PDF indexing, "
                    "decode while indexing")  # fmt: skip
                rounds.setdefault("decode_idle_tps", []).append(
                    decode_tps(server, prompt, work.decode_tokens)
                )
                started = time.perf_counter()
                state = wait_indexed(server, *start_index(server, pdf))
                rounds.setdefault("pdf_index_s", []).append(time.perf_counter() - started)
                found["pdf_chunks"] = state["progress"]["chunks_total"]
                busy_store, busy_file = start_index(server, pdf)
                while not _embedding(job(server, busy_store, busy_file)):
                    time.sleep(0.02)
                rate = decode_tps(server, prompt, work.decode_tokens)
                still = job(server, busy_store, busy_file)["status"] == "in_progress"
                rounds.setdefault("decode_indexing_tps", []).append(rate if still else None)
                wait_indexed(server, busy_store, busy_file)
            found["rss_peak_with_knowledge_mb"] = server.peak_rss() / MB

        log("knowledge: a server without a knowledge base, for its RSS")
        bare = {**settings, "EMBEDDING_MODEL_PATH": MISSING_MODEL}
        bare["DATA_DIR"] = str(Path(scratch) / "bare")
        with ServerProcess.start(bare, log_dir / "server-no-knowledge.log") as server:
            decode_tps(server, prompt, 8)
            found["rss_without_knowledge_mb"] = server.rss_bytes() / MB
        found["pdf_pages"] = work.pdf_pages
        found["store_chunks"] = work.store_chunks
        found["pdf_bytes"] = pdf.stat().st_size
    return found


def _embedding_model_path(settings: dict[str, str]) -> Path:
    """The file the server embeds with: EMBEDDING_MODEL_PATH, else the preset's."""
    if settings.get("EMBEDDING_MODEL_PATH"):
        return Path(settings["EMBEDDING_MODEL_PATH"])
    from pocketchat.presets import EMBEDDING_PRESETS, preset_path
    from pocketchat.settings import Settings

    chosen = Settings()
    return preset_path(chosen.models_dir, EMBEDDING_PRESETS[chosen.embedding_preset])


def _embedding(state: dict[str, Any]) -> bool:
    """The job has got to embedding (extracting and chunking are behind it), or has ended."""
    return state["status"] != "in_progress" or state["progress"]["chunks_total"] > 0


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summarize_knowledge(found: dict[str, Any]) -> dict[str, Any]:
    rounds = found["rounds"]
    summary: dict[str, Any] = {name: summarize(values) for name, values in rounds.items()}
    latencies = found["search_ms"]
    summary |= {
        "embed_ratio": _median_ratio(rounds["product_embed_chunks_per_s"],
                                     rounds["raw_embed_chunks_per_s"]),
        "search_p50_ms": statistics.median(latencies),
        "search_p95_ms": percentile(latencies, 0.95),
        "search_cold_ms": found["search_cold_ms"],
        "decode_ratio": _median_ratio(rounds["decode_indexing_tps"], rounds["decode_idle_tps"]),
        "rss_added_mb": found["rss_with_knowledge_mb"] - found["rss_without_knowledge_mb"],
    }  # fmt: skip
    return summary


def _median_ratio(
    numerators: Sequence[float | None], denominators: Sequence[float | None]
) -> float | None:
    """The median of the per-round ratios: each round's pair ran back to back."""
    pairs = [n / d for n, d in zip(numerators, denominators, strict=False) if n and d]
    return statistics.median(pairs) if pairs else None


def knowledge_targets(summary: dict[str, Any], store_chunks: int) -> list[Target]:
    size = f"{store_chunks:,}"
    return [
        Target("embedding throughput, product / raw llama.cpp", summary["embed_ratio"], 0.9, True),
        Target(f"search p50 at {size} chunks, query embedding included",
               summary["search_p50_ms"], 100.0, False, " ms"),
        Target("decode while indexing / idle", summary["decode_ratio"], 0.7, True),
        Target(f"RSS added by the embedder and the store at {size} chunks",
               summary["rss_added_mb"], 300.0, False, " MB"),
    ]  # fmt: skip


def render_knowledge(found: dict[str, Any], summary: dict[str, Any], checks: list[Target]) -> str:
    from bench.report import _num, cell

    def c(key: str) -> str:
        return cell(summary.get(key))

    pages = found["pdf_pages"]
    lines = [
        "| knowledge measurement | raw llama.cpp | pocketchat | pocketchat / raw |",
        "|---|---|---|---|",
        f"| embedding, chunks/s ({found['embed_chunks']} chunks, "
        f"{found['embed_prompt_tokens']} tokens, per round) | {c('raw_embed_chunks_per_s')} | "
        f"{c('product_embed_chunks_per_s')} | {_num(summary['embed_ratio'])} |",
        f"| search at {found['store_chunks']:,} chunks, p50 / p95 ms (first search: "
        f"{_num(summary['search_cold_ms'])} ms) | | {_num(summary['search_p50_ms'])} / "
        f"{_num(summary['search_p95_ms'])} | |",
        f"| {pages}-page text PDF ({found['pdf_chunks']} chunks), upload → completed, s | | "
        f"{c('pdf_index_s')} | |",
        f"| decode tokens/s, idle / while indexing | | {c('decode_idle_tps')} / "
        f"{c('decode_indexing_tps')} | {_num(summary['decode_ratio'])} |",
        f"| RSS after a search, MB, without / with the knowledge base | | "
        f"{_num(found['rss_without_knowledge_mb'])} / {_num(found['rss_with_knowledge_mb'])} | |",
        "",
        "| knowledge target | result |",
        "|---|---|",
    ]
    lines += [f"| {t.name} | {t.verdict} {t.detail()} |" for t in checks]
    return "\n".join(lines) + "\n"


def run_knowledge(
    server_env: dict[str, str],
    threads: int,
    work: KnowledgeWork,
    log_dir: Path,
    log: Callable[[str], None],
    prompt: str,
) -> dict[str, Any]:
    """The knowledge section of a bench result: measurements, summary, targets and Markdown,
    or the error that stopped it (the rest of the bench still reports)."""
    try:
        found = measure_knowledge(server_env, threads, work, log_dir, log, prompt)
    except Exception as error:
        print(f"bench: knowledge measurement failed: {error}", file=sys.stderr)
        return {"errors": [f"knowledge: {error}"], "target_lines": [], "markdown": ""}
    summary = summarize_knowledge(found)
    checks = knowledge_targets(summary, work.store_chunks)
    return {
        "errors": [],
        "measured": found,
        "summary": summary,
        "targets": [check.as_dict() for check in checks],
        "target_lines": [check.line() for check in checks],
        "markdown": render_knowledge(found, summary, checks),
    }
