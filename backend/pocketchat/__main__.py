"""`python -m pocketchat`: validate the settings, load the model, serve with waitress.

Waitress rather than Flask's development server: threaded, production-grade, pure Python (runs
on a Pi and on Windows), and it can tell a request that its client went away. A model that
cannot be served stops the process with exit status 1 and one sentence on stderr.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
import warnings
from types import FrameType

from flask import Flask
from pydantic import ValidationError
from waitress.server import BaseWSGIServer, create_server

from pocketchat import __version__
from pocketchat.app import create_app
from pocketchat.runtime import RuntimeLoader, loader_of
from pocketchat.settings import Settings

log = logging.getLogger("pocketchat")
SHUTDOWN_GRACE_SECONDS = 3.0


def settings_help() -> str:
    lines = ["environment variables (all optional):"]
    for name, field in Settings.model_fields.items():
        default = field.default if field.default_factory is None else "(computed)"
        variable = str(field.validation_alias or name).upper()
        lines.append(f"  {variable:<20} {field.description} [default: {default}]")
    return "\n".join(lines)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper() or 'settings'}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
        sys.exit(f"pocketchat: invalid configuration: {problems}")


def make_server(app: Flask, settings: Settings, port: int | None = None) -> BaseWSGIServer:
    """Waitress, configured to stream: also used by the tests' live server."""
    # A thread per stream: every slot and every queued request holds one while it waits. The
    # spare ones refuse a burst's excess (429) and answer health checks meanwhile: measured with
    # 64 clients at once, 4 spares let the last refusal wait up to 130 ms, 16 about 75 ms.
    threads = settings.parallel + settings.max_queue + 16
    with warnings.catch_warnings():
        # send_bytes is deprecated but still the only way to make waitress flush each frame.
        warnings.filterwarnings("ignore", "send_bytes", DeprecationWarning)
        server = create_server(
            app,
            host=settings.host,
            port=settings.port if port is None else port,
            threads=threads,
            ident="pocketchat",
            # Flush every write: the default waits for 18,000 bytes, which lumps SSE frames.
            send_bytes=1,
            # Read ahead so that a closed connection is noticed while its request still runs.
            channel_request_lookahead=5,
            # Flask answers an over-large body with JSON (MAX_CONTENT_LENGTH); waitress's own
            # plain-text 413 is only the backstop for absurd sizes.
            max_request_body_size=max(
                16 * settings.max_body_bytes, 2 * settings.max_upload_bytes, 16 * 2**20
            ),
            clear_untrusted_proxy_headers=True,
        )
    assert isinstance(server, BaseWSGIServer)
    return server


def stop_serving(server: BaseWSGIServer, loader: RuntimeLoader) -> None:
    """End every stream with its final event, then empty waitress's loop so that `run` ends."""
    loader.shutdown()
    deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
    while time.monotonic() < deadline and any(
        channel.requests for channel in list(server._map.values())
        if hasattr(channel, "requests")
    ):  # fmt: skip
        time.sleep(0.05)
    server.task_dispatcher.shutdown(timeout=1)
    # Idle keep-alive connections would hold the loop open until they time out.
    for channel in list(server._map.values()):
        channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pocketchat",
        description="Serve the pocketchat web app and its OpenAI-compatible API.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pocketchat {__version__}")
    parser.parse_args()
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Waitress warns for every request that waits for a thread: under a burst that is one line
    # per refused client, and the refusals are counted in /metrics already.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app = create_app(settings)
    loader = loader_of(app)
    if loader.error is not None:  # the file itself is unservable: refused before listening
        sys.exit(f"pocketchat: {loader.error}")
    server = make_server(app, settings)
    stop_lock = threading.Lock()
    stopping = threading.Event()

    def stop() -> None:
        with stop_lock:
            if stopping.is_set():
                return
            stopping.set()
        threading.Thread(
            target=stop_serving, args=(server, loader), name="shutdown", daemon=True
        ).start()

    def graceful_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing open streams and stopping", signum)
        stop()

    def stop_if_unservable() -> None:
        # llama.cpp loads the model in the background so that /api/health answers meanwhile.
        loader.wait_loaded()
        if loader.error is not None:
            stop()

    signal.signal(signal.SIGTERM, graceful_stop)
    signal.signal(signal.SIGINT, graceful_stop)
    threading.Thread(target=stop_if_unservable, name="load-watch", daemon=True).start()
    log.info("serving on http://%s:%d", settings.host, settings.port)
    try:
        server.run()
    except (OSError, ValueError):
        # The loop ends with an error on a map emptied by close(): that is the way out.
        if not stopping.is_set():
            raise
    if loader.error is not None:
        sys.exit(f"pocketchat: {loader.error}")
    log.info("stopped")


if __name__ == "__main__":
    main()
