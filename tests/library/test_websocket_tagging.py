"""WebSocket connections under a real uvicorn server: the span another instrumentation
opens for the connection carries the token of the handshake (header or query string), and
the socket itself is never disturbed: messages pass through unchanged and in order, and a
failure inside tokentrace neither closes nor alters the connection."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from websockets.sync.client import connect

import tokentrace
from tests.library.server_spans import wait_for_server_spans
from tests.library.tokens import BEARER, QUERY_KEY
from tests.loopback import serve_asgi
from tokentrace import attributes as attr
from tokentrace._analysis import TokenAnalyzer
from tokentrace.testing import SpanRecorder

MESSAGES: list[str | bytes] = ["one", b"\x00two\xff", "three " * 50, b"", "four"]


async def echo(websocket: WebSocket) -> None:
    """Echoes every message, text as text and bytes as bytes, then closes with 4001."""
    await websocket.accept()
    with trace.get_tracer("test").start_as_current_span("handler"):
        pass
    for _ in MESSAGES:
        message = await websocket.receive()
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message.get("bytes") or b"")
    await websocket.close(code=4001, reason="done")


def fastapi_app() -> FastAPI:
    app = FastAPI()
    app.add_api_websocket_route("/ws", echo)
    return app


def talk(url: str, **options: Any) -> tuple[list[str | bytes], int | None]:
    """Send MESSAGES, return the echoes and the close code the server sent."""
    received: list[str | bytes] = []
    with connect(url.replace("http", "ws", 1), **options) as conn:
        for message in MESSAGES:
            conn.send(message)
            received.append(conn.recv())
        with contextlib.suppress(Exception):  # the server's close frame
            conn.recv()
        code = conn.close_code
    return received, code


@pytest.fixture
def instrumented_fastapi() -> Iterator[str]:
    app = fastapi_app()
    app.add_middleware(tokentrace.ASGIMiddleware)
    FastAPIInstrumentor.instrument_app(app)
    try:
        with serve_asgi(app) as url:
            yield url
    finally:
        FastAPIInstrumentor.uninstrument_app(app)


def _server_span(recorder: SpanRecorder) -> Any:
    [span] = wait_for_server_spans(recorder, 1)
    assert span.kind is SpanKind.SERVER
    assert span.attributes is not None
    return span


def test_fastapi_instrumentor_websocket_span_has_the_header_token(
    recorder: SpanRecorder, instrumented_fastapi: str
) -> None:
    received, code = talk(
        f"{instrumented_fastapi}/ws", additional_headers={"Authorization": f"Bearer {BEARER}"}
    )
    assert received == MESSAGES
    assert code == 4001
    span = _server_span(recorder)
    token_id = tokentrace.fingerprint(BEARER)
    assert span.attributes[attr.TOKEN_ID] == token_id
    assert span.attributes[attr.TOKEN_SOURCE] == "header:authorization"
    # Spans started under the connection carry it too (the handler's, contrib's per-message).
    handler = [s for s in recorder.spans() if s.name == "handler"]
    assert handler and all((s.attributes or {}).get(attr.TOKEN_ID) == token_id for s in handler)
    recorder.assert_no_raw_token(BEARER)


def test_websocket_query_token_tags_the_span_and_is_redacted(
    recorder: SpanRecorder, instrumented_fastapi: str
) -> None:
    received, code = talk(f"{instrumented_fastapi}/ws?api_key={QUERY_KEY}&room=7")
    assert received == MESSAGES
    assert code == 4001
    span = _server_span(recorder)
    assert span.attributes[attr.TOKEN_ID] == tokentrace.fingerprint(QUERY_KEY)
    assert span.attributes[attr.TOKEN_SOURCE] == "query:api_key"
    recorder.assert_no_raw_token(QUERY_KEY)


def test_contrib_middleware_outside_tags_the_websocket_span(recorder: SpanRecorder) -> None:
    inner = tokentrace.ASGIMiddleware(Starlette(routes=[WebSocketRoute("/ws", echo)]))
    with serve_asgi(OpenTelemetryMiddleware(inner)) as url:
        received, code = talk(f"{url}/ws", additional_headers={"X-API-Key": BEARER})
    assert received == MESSAGES
    assert code == 4001
    span = _server_span(recorder)
    assert span.attributes[attr.TOKEN_ID] == tokentrace.fingerprint(BEARER)
    assert span.attributes[attr.TOKEN_SOURCE] == "header:x-api-key"


def test_tokentrace_alone_opens_no_websocket_span_and_tags_child_spans(
    recorder: SpanRecorder,
) -> None:
    app = fastapi_app()
    app.add_middleware(tokentrace.ASGIMiddleware)
    with serve_asgi(app) as url:
        received, code = talk(f"{url}/ws", additional_headers={"Authorization": f"Bearer {BEARER}"})
    assert received == MESSAGES
    assert code == 4001
    assert wait_for_server_spans(recorder, 0, timeout=0.2) == []
    [handler] = [s for s in recorder.spans() if s.name == "handler"]
    assert (handler.attributes or {}).get(attr.TOKEN_ID) == tokentrace.fingerprint(BEARER)


@pytest.mark.usefixtures("swallowed_internal_errors")
@pytest.mark.parametrize("where", ["analysis", "tagging"])
def test_failure_inside_tokentrace_leaves_the_socket_alone(
    where: str, monkeypatch: pytest.MonkeyPatch, recorder: SpanRecorder, instrumented_fastapi: str
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected")

    if where == "analysis":
        monkeypatch.setattr(TokenAnalyzer, "analyze", broken)
    else:
        monkeypatch.setattr(tokentrace._asgi, "scrub_span", broken)
    received, code = talk(
        f"{instrumented_fastapi}/ws", additional_headers={"Authorization": f"Bearer {BEARER}"}
    )
    assert received == MESSAGES
    assert code == 4001
    _server_span(recorder)  # still traced by the other instrumentation
    recorder.assert_no_raw_token(BEARER)
