"""Export the server's /openapi.json without a server or a model; the web app's API types
(frontend/src/types/openapi.ts) are generated from the exported file by `make api-types`.

    python scripts/export_openapi.py                      # print the document
    python scripts/export_openapi.py --out PATH           # write it
    python scripts/export_openapi.py --check PATH         # exit 1 if PATH is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pocketchat.api.openapi import build_spec


def render() -> bytes:
    """The document as the route serves it (key order included), indented, one final newline.

    Bytes, not text, so that --check compares exactly what --out wrote on any platform.
    """
    text = json.dumps(build_spec(), indent=2, ensure_ascii=False) + "\n"
    return text.encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export /openapi.json, no server or model needed.")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--out", type=Path, metavar="PATH", help="write the document to PATH")
    target.add_argument(
        "--check", type=Path, metavar="PATH", help="exit 1 if PATH differs from the document"
    )
    args = parser.parse_args(argv)
    document = render()
    if args.check is not None:
        current = args.check.read_bytes() if args.check.is_file() else None
        if current != document:
            print(f"{args.check} is out of date: run `make api-types`", file=sys.stderr)
            return 1
        return 0
    if args.out is not None:
        args.out.write_bytes(document)
        return 0
    sys.stdout.buffer.write(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
