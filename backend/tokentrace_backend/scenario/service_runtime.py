"""How the scenario's services run as processes: tracing set-up and their HTTP servers.

Each service exports its spans with ``tokentrace.configure`` (OTLP/HTTP to
``OTEL_EXPORTER_OTLP_ENDPOINT``) and, on SIGTERM or SIGINT, stops serving and flushes the
spans it still holds before it exits, so a test that stops it loses nothing.

Their access logs are on, through ``tokentrace.redact_access_logs()``: a request line such
as ``GET /api/orders?api_key=<raw>`` is logged as ``api_key=REDACTED``, and the tests search
the services' logs for raw tokens.
"""

from __future__ import annotations

import logging
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
    """Serve an ASGI app with uvicorn until SIGINT/SIGTERM, then flush spans.

    uvicorn's own messages are logged from WARNING up; its access log (request lines, at
    INFO) is on, with token-bearing query parameters redacted.
    """
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=True)
    # After the Config: it configures uvicorn's loggers (the filter survives that anyway).
    logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    tokentrace.redact_access_logs()
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        flush_spans()
    if not server.started:
        sys.exit(3)  # uvicorn's exit code for a failed start-up


def serve_wsgi(app: WSGIApplication, *, host: str, port: int) -> None:
    """Serve a WSGI app with werkzeug's threaded server until SIGINT/SIGTERM, then flush."""
    tokentrace.redact_access_logs()  # werkzeug logs each request line at INFO
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
