"""`python -m pocketchat.knowledge add DIR_OR_FILES --collection NAME`: bulk indexing.

Indexes into the knowledge base the server uses (DATA_DIR, KNOWLEDGE_DB_URL, EMBEDDING_MODEL,
as the server reads them), in this process, with a progress bar per file: a folder of manuals
is ready before the server starts. An entry point, so it sits above every layer it uses.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import ValidationError

from pocketchat.knowledge.service import SUPPORTED_EXTENSIONS, KnowledgeBase, UploadRefused
from pocketchat.knowledge.store import KnowledgeError, KnowledgeStore, open_store
from pocketchat.model_choice import load_embedder
from pocketchat.settings import Settings

BAR_WIDTH = 24


def documents(paths: list[Path]) -> Iterator[Path]:
    """The files named, and the supported files under the folders named, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS
            )
        else:
            yield path


def collection(store: KnowledgeStore, name: str) -> str:
    """The id of the vector store called `name` (or with that id), created if there is none."""
    for record in store.list_vector_stores():
        if name in (record.name, record.id):
            return record.id
    return store.create_vector_store(name, {}).id


def progress_bar(label: str) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        filled = BAR_WIDTH * done // max(1, total)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        print(f"\r{label:<40.40} [{bar}] {done}/{total} chunks", end="", file=sys.stderr)

    return show


def add(knowledge: KnowledgeBase, store_id: str, paths: list[Path]) -> int:
    """Index each file; returns how many failed."""
    failed = 0
    for path in documents(paths):
        label = path.name
        try:
            record = knowledge.upload(path.name, path.read_bytes(), "assistants")
        except (UploadRefused, OSError) as error:
            print(f"{label}: refused: {error}", file=sys.stderr)
            failed += 1
            continue
        job = knowledge.attach(store_id, record.id)
        knowledge.index(job, on_progress=progress_bar(label))
        result = knowledge.store.get_store_file(store_id, record.id)
        if result.status == "completed":
            outcome = f"done: {result.chunks_total} chunks"
        else:
            outcome = f"{result.status}: {result.last_error}"
            failed += 1
        print(f"\r{label:<40.40} {outcome:<{BAR_WIDTH + 20}}", file=sys.stderr)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pocketchat.knowledge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    adding = commands.add_parser("add", help="index files and folders into a collection")
    adding.add_argument("paths", nargs="+", type=Path, metavar="DIR_OR_FILE")
    adding.add_argument("--collection", required=True, help="vector store name or id")
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"invalid configuration: {error}", file=sys.stderr)
        return 2
    embedder, why_not = load_embedder(settings)
    if embedder is None:
        print(f"cannot index: {why_not}", file=sys.stderr)
        return 1
    url = settings.knowledge_db_url or str(settings.data_dir / "knowledge.db")
    try:
        store = open_store(url, dimensions=embedder.dimensions)
    except KnowledgeError as error:
        print(f"cannot open the knowledge base {url}: {error}", file=sys.stderr)
        return 1
    knowledge = KnowledgeBase(store, embedder, max_upload_bytes=settings.max_upload_bytes)
    try:
        failed = add(knowledge, collection(store, args.collection), args.paths)
    except KeyboardInterrupt:
        print(
            "\ninterrupted: finished files are kept, the rest resume in the server", file=sys.stderr
        )
        return 130
    finally:
        knowledge.close()
        embedder.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
