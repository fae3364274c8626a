"""The knowledge base through its API, as the official `openai` client uses it: upload a folder
of zh and en documents (md, pdf, docx), search them, get answers that cite them; bad files and
missing ids get clear errors; an interrupted job resumes after a restart."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import LiveServer, build_app, chat_body, sse_events
from documents import IMAGE_ONLY_HTML, POLICY_DOCX, POLICY_HTML, print_pdf
from openai import OpenAI
from pocketchat.knowledge.store import open_store
from pocketchat.runtime import loader_of

MARKDOWN = """# Onboarding

## Laptops
New employees receive a ThinkPad laptop on their first day from the IT desk on floor 3.

## 年假
员工入职满一年后每年享有十天带薪年假，年假需提前两周在系统中申请。
"""


@pytest.fixture(scope="module")
def documents_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    (folder / "onboarding.md").write_text(MARKDOWN, encoding="utf-8")
    (folder / "travel.pdf").write_bytes(print_pdf(POLICY_HTML, folder, "travel"))
    (folder / "handbook.docx").write_bytes(POLICY_DOCX)
    return folder


@pytest.fixture
def knowledge_server(
    live_server: Callable[..., LiveServer], smollm2_model: Path, embedding_model: Path
) -> LiveServer:
    # The embedder comes from its preset (the file `embedding_model` ensures), as in `make run`.
    return live_server(smollm2_model, n_ctx=4096, max_upload_bytes=2_000_000)


def client_for(server: LiveServer) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


@pytest.fixture
def indexed(knowledge_server: LiveServer, documents_dir: Path) -> Iterator[tuple[OpenAI, str]]:
    client = client_for(knowledge_server)
    store = client.vector_stores.create(name="policies")
    for path in sorted(documents_dir.glob("*.*")):
        if path.suffix in (".md", ".pdf", ".docx"):
            with path.open("rb") as file:
                result = client.vector_stores.files.upload_and_poll(
                    vector_store_id=store.id, file=file, max_wait_seconds=120
                )
            assert (result.status, result.last_error) == ("completed", None), path.name
    yield client, store.id


@pytest.mark.smollm2
@pytest.mark.parametrize(
    ("question", "expected_file"),
    [
        ("出差住酒店每晚能报多少钱？", "travel.pdf"),
        ("How do I reset my password?", "travel.pdf"),
        ("一线城市住宿上限是多少", "handbook.docx"),
        ("Where do new employees get a laptop?", "onboarding.md"),
        ("年假有几天？", "onboarding.md"),
    ],
)
def test_search_finds_the_right_document(
    indexed: tuple[OpenAI, str], question: str, expected_file: str
) -> None:
    client, store_id = indexed
    results = client.vector_stores.search(vector_store_id=store_id, query=question).data
    assert expected_file in [result.filename for result in results[:3]]


@pytest.mark.smollm2
def test_a_cited_answer_streams_its_sources_before_the_text(
    indexed: tuple[OpenAI, str], knowledge_server: LiveServer
) -> None:
    _, store_id = indexed
    body = chat_body(
        "How much is the hotel limit in first-tier cities?",
        max_tokens=24,
        stream=True,
        knowledge={"vector_store_ids": [store_id], "max_results": 3},
    )
    with requests.post(
        f"{knowledge_server.url}/v1/chat/completions", json=body, stream=True, timeout=120
    ) as response:
        frames = [f for f in sse_events(response.iter_lines()) if isinstance(f, dict)]
    sources_at = next(i for i, f in enumerate(frames) if f.get("sources") is not None)
    first_text = next(
        i for i, f in enumerate(frames) if f["choices"] and f["choices"][0]["delta"].get("content")
    )
    sources = frames[sources_at]["sources"]
    assert sources_at < first_text
    assert [s["index"] for s in sources] == list(range(1, len(sources) + 1))
    assert {"travel.pdf", "handbook.docx"} & {s["filename"] for s in sources}
    assert all(s["snippet"] and s["file_id"].startswith("file-") for s in sources)

    whole = requests.post(
        f"{knowledge_server.url}/v1/chat/completions", json={**body, "stream": False}, timeout=120
    ).json()
    assert [s["id"] for s in whole["sources"]] == [s["id"] for s in sources]


@pytest.mark.smollm2
@pytest.mark.parametrize("question", ["What is the weather on Mars?", "火星上的天气怎么样？"])
def test_a_question_the_documents_do_not_answer_gets_no_sources(
    indexed: tuple[OpenAI, str], question: str
) -> None:
    client, store_id = indexed
    reply = client.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": question}],
        max_tokens=8,
        extra_body={"knowledge": {"vector_store_ids": [store_id]}},
    )
    assert (reply.model_extra or {})["sources"] == []


def test_bad_uploads_are_refused_with_the_reason(knowledge_server: LiveServer) -> None:
    url = f"{knowledge_server.url}/v1/files"
    cases = [
        (("virus.exe", b"MZ...."), 400, "unsupported file type .exe"),
        (("empty.txt", b""), 400, "empty"),
        (("big.txt", b"a" * 2_000_001), 413, "MAX_UPLOAD_BYTES"),
    ]
    for (name, data), status, reason in cases:
        response = requests.post(
            url, files={"file": (name, data)}, data={"purpose": "assistants"}, timeout=30
        )
        assert (response.status_code, reason in response.json()["error"]["message"]) == (
            status,
            True,
        ), name


def test_a_pdf_without_text_fails_with_its_reason(
    knowledge_server: LiveServer, tmp_path: Path
) -> None:
    client = client_for(knowledge_server)
    store = client.vector_stores.create(name="scans")
    scan = ("scan.pdf", io.BytesIO(print_pdf(IMAGE_ONLY_HTML, tmp_path, "scan")))
    result = client.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=scan)
    assert result.status == "failed"
    assert result.last_error is not None and "no text layer" in result.last_error.message


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/v1/vector_stores/vs_missing", None),
        ("post", "/v1/vector_stores/vs_missing/search", {"query": "x"}),
        ("post", "/v1/vector_stores/vs_missing/files", {"file_id": "file-missing"}),
        ("get", "/v1/files/file-missing", None),
        ("delete", "/v1/files/file-missing", None),
        ("post", "/v1/chat/completions", chat_body(knowledge={"vector_store_ids": ["vs_missing"]})),
    ],
)
def test_missing_ids_are_404(
    knowledge_server: LiveServer, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = requests.request(method, f"{knowledge_server.url}{path}", json=body, timeout=30)
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_an_interrupted_job_resumes_after_a_restart(
    smollm2_model: Path, embedding_model: Path, tmp_path: Path
) -> None:
    # A server that stopped after accepting the file: the job is in the database, in progress.
    store = open_store(str(tmp_path / "knowledge.db"), dimensions=384)
    record = store.add_file("onboarding.md", MARKDOWN.encode(), "assistants")
    vector_store = store.create_vector_store("resumed")
    store.attach_file(vector_store.id, record.id)
    store.close()
    app = build_app(smollm2_model, data_dir=tmp_path)
    try:
        client = app.test_client()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = client.get(f"/v1/vector_stores/{vector_store.id}/files/{record.id}").json
            if status["status"] != "in_progress":
                break
            time.sleep(0.2)
    finally:
        loader_of(app).shutdown()
    assert (status["status"], status["progress"]["chunks_done"] > 0) == ("completed", True)
