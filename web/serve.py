"""`flowdesk serve`: the web app plus, for the embedded setup, one in-process timer worker."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

import click

from engine import settings


def run_server(host: str, port: int, *, worker: bool = True) -> None:
    from werkzeug.serving import make_server

    from engine.timers import Worker

    from . import create_app

    app = create_app({"SECRET_KEY": settings.get("FLOWDESK_SECRET_KEY") or os.urandom(32).hex()})
    engine = app.extensions["flowdesk"]
    server = make_server(host, port, app, threaded=True)
    background: Worker | None = None
    if worker:
        background = Worker(engine)
        threading.Thread(target=background.run_forever, name="flowdesk-worker", daemon=True).start()

    def shutdown(*_: Any) -> None:
        if background is not None:
            background.stop()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    click.echo(f"FlowDesk serving on http://{host}:{port}" + (" with a timer worker" if worker else ""))
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        shutdown()


@click.command("serve")
@click.option("--host", default=lambda: settings.get("FLOWDESK_HOST"), show_default="FLOWDESK_HOST")
@click.option("--port", default=lambda: int(settings.get("FLOWDESK_PORT")), type=int, show_default="FLOWDESK_PORT")
@click.option("--no-worker", is_flag=True, help="Do not run the timer worker in this process.")
def serve(host: str, port: int, no_worker: bool) -> None:
    """Serve the staff web app and API (with one in-process timer worker unless --no-worker)."""
    run_server(host, port, worker=not no_worker)
