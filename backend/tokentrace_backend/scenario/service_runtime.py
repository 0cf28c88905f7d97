"""How the scenario's services run as processes: tracing set-up and their HTTP servers.

Each service exports its spans with ``tokentrace.configure`` (OTLP/HTTP to
``OTEL_EXPORTER_OTLP_ENDPOINT``) and, on SIGTERM or SIGINT, stops serving and flushes the
spans it still holds before it exits, so a test that stops it loses nothing.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn
from opentelemetry.sdk.trace import TracerProvider
from starlette.types import ASGIApp
from werkzeug.serving import make_server

import tokentrace

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

_provider: TracerProvider | None = None


def setup_tracing(service_name: str) -> TracerProvider:
    """Configure OpenTelemetry for this service process (idempotent)."""
    global _provider  # noqa: PLW0603 - one provider per process, flushed at exit
    _provider = tokentrace.configure(service_name=service_name)
    return _provider


def flush_spans() -> None:
    """Export every span still buffered (called before the process exits)."""
    if _provider is not None:
        _provider.shutdown()


def serve_asgi(app: ASGIApp, *, host: str, port: int) -> None:
    """Serve an ASGI app with uvicorn until SIGINT/SIGTERM, then flush spans."""
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        flush_spans()


def serve_wsgi(app: WSGIApplication, *, host: str, port: int) -> None:
    """Serve a WSGI app with werkzeug's threaded server until SIGINT/SIGTERM, then flush."""
    server = make_server(host, port, app, threaded=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        flush_spans()
        sys.stdout.flush()
