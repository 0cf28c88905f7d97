"""Fixtures for the library tests: one recording tracer provider for the session, and
real HTTP servers on loopback (uvicorn for ASGI, werkzeug for WSGI) in threads."""

from __future__ import annotations

import os

# One known key for the whole session, set before tokentrace builds its fingerprinter.
os.environ["TOKENTRACE_HASH_KEY"] = "test-key-0123456789abcdef0123456789abcdef"
os.environ["TOKENTRACE_HASH_KEY_ID"] = "test-2026"

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from opentelemetry.instrumentation._semconv import _OpenTelemetrySemanticConventionStability
from werkzeug.serving import make_server

from tokentrace.testing import SpanRecorder

_RECORDER = SpanRecorder.install()


@pytest.fixture
def recorder() -> Iterator[SpanRecorder]:
    _RECORDER.clear()
    yield _RECORDER
    _RECORDER.clear()


@pytest.fixture(params=["default", "http/dup"])
def semconv(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test under the old HTTP semantic conventions and under old+stable (dup).

    The official instrumentation reads OTEL_SEMCONV_STABILITY_OPT_IN once per process;
    its private 'initialized' flag is reset so that each middleware built in the test
    reads the mode again.
    """
    mode: str = request.param
    if mode == "default":
        monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
    else:
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", mode)
    stability = _OpenTelemetrySemanticConventionStability
    monkeypatch.setattr(stability, "_initialized", False)
    monkeypatch.setattr(stability, "_OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING", {})
    return mode


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Run ``app`` under a real uvicorn server on loopback; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="auto")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serve_wsgi(app: Callable[..., Any]) -> Iterator[str]:
    """Run ``app`` under a real werkzeug WSGI server on loopback; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def wait_for_server_spans(recorder: SpanRecorder, count: int, timeout: float = 5.0) -> list[Any]:
    """Server spans end just after the last byte is sent: poll until ``count`` have ended.

    Then wait a little longer to prove that no extra SERVER span shows up.
    """
    deadline = time.monotonic() + timeout
    while len(recorder.server_spans()) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    return recorder.server_spans()
