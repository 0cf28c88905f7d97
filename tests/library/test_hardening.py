"""Raw tokens stay out of spans in the less common set-ups too: nested instrumentation,
websockets, HTTP client spans, URL-valued headers, exception messages; and attribution
holds for lifecycle spans, nested in-process requests and streaming WSGI bodies."""

from __future__ import annotations

import asyncio
import base64
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import flask
import httpx
import pytest
from fastapi import FastAPI, Header, Request, WebSocket
from google.protobuf.json_format import MessageToDict
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import SpanKind
from starlette.responses import PlainTextResponse

import tokentrace
from tests.library.server_spans import wait_for_server_spans
from tests.library.tokens import NOW, make_jwt
from tests.loopback import serve_asgi, serve_wsgi
from tokentrace import attributes as attr
from tokentrace.testing import SpanRecorder

SECRET = "tok+en/With=Chars_9931"  # characters that URL encodings change


@pytest.fixture
def capture_all_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    for side in ("SERVER", "CLIENT"):
        for direction in ("REQUEST", "RESPONSE"):
            monkeypatch.setenv(
                f"OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_{side}_{direction}", ".*"
            )


@dataclass(frozen=True)
class ExportedStrings:
    spans: list[str]  # the names of the exported spans
    values: list[str]  # every string in them, decoded: names, attribute values, events


def exported_strings(otlp: bytes) -> ExportedStrings:
    """Decode exported OTLP bytes and collect every string they hold."""
    request = ExportTraceServiceRequest.FromString(otlp)
    names = [
        span.name
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]
    values: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, str):
            values.append(node)
        elif isinstance(node, dict):
            for item in node.values():
                collect(item)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(MessageToDict(request))
    return ExportedStrings(names, values)


def secret_forms(secret: str) -> list[str]:
    from urllib.parse import quote, quote_plus

    return [secret, quote(secret, safe=""), quote_plus(secret)]


def test_flask_instrumentor_span_never_holds_the_query_token(recorder: SpanRecorder) -> None:
    app = flask.Flask("nested")
    app.add_url_rule("/x", "x", lambda: "ok")
    app.wsgi_app = tokentrace.WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    FlaskInstrumentor().instrument_app(app)
    try:
        with serve_wsgi(app) as url:
            httpx.get(f"{url}/x", params={"api_key": SECRET, "access_token": SECRET + "2"})
        wait_for_server_spans(recorder, 1)
        assert len(recorder.spans()) == 2
        recorder.assert_no_raw_token(*secret_forms(SECRET), *secret_forms(SECRET + "2"))
    finally:
        FlaskInstrumentor().uninstrument_app(app)


def test_contrib_middleware_inside_tokentrace_is_scrubbed(recorder: SpanRecorder) -> None:
    inner = FastAPI()
    inner.get("/x")(lambda: {"ok": True})
    FastAPIInstrumentor.instrument_app(inner)
    try:
        with serve_asgi(tokentrace.ASGIMiddleware(inner)) as url:
            httpx.get(f"{url}/x", params={"key": SECRET})
        [server] = wait_for_server_spans(recorder, 1)
        assert server.attributes is not None
        assert server.attributes[attr.TOKEN_ID] == tokentrace.fingerprint(SECRET)
        recorder.assert_no_raw_token(*secret_forms(SECRET))
    finally:
        FastAPIInstrumentor.uninstrument_app(inner)


@pytest.mark.usefixtures("capture_all_headers")
def test_websocket_span_of_another_instrumentation_is_scrubbed(recorder: SpanRecorder) -> None:
    from websockets.sync.client import connect

    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    app.add_middleware(tokentrace.ASGIMiddleware)
    FastAPIInstrumentor.instrument_app(app)
    try:
        with serve_asgi(app) as url:
            ws_url = url.replace("http", "ws") + f"/ws?token={SECRET}"
            with connect(ws_url, additional_headers={"Authorization": f"Bearer {SECRET}"}) as conn:
                assert conn.recv() == "hi"
        [server] = wait_for_server_spans(recorder, 1)
        assert server.attributes is not None
        assert server.attributes["http.route"] == "/ws"
        # The spans as exported, decoded: the connection's SERVER span and its message spans,
        # with the URL and the captured Authorization header there, both sanitized.
        exported = exported_strings(recorder.otlp_bytes())
        assert len(exported.spans) >= 2, exported.spans
        assert any(value.endswith("/ws?token=REDACTED") for value in exported.values)
        assert "[REDACTED]" in exported.values
        leaks = [v for v in exported.values for form in secret_forms(SECRET) if form in v]
        assert leaks == []
        recorder.assert_no_raw_token(*secret_forms(SECRET))
    finally:
        FastAPIInstrumentor.uninstrument_app(app)


@pytest.mark.usefixtures("capture_all_headers")
def test_client_spans_and_url_valued_headers_are_scrubbed(recorder: SpanRecorder) -> None:
    downstream = flask.Flask("downstream")

    @downstream.get("/cb")
    def callback() -> flask.Response:
        response = flask.make_response("moved", 302)
        response.headers["Location"] = f"/done?access_token={SECRET}"
        response.set_cookie("session", SECRET)
        return response

    gateway = FastAPI()
    gateway.add_middleware(tokentrace.ASGIMiddleware)

    with serve_wsgi(tokentrace.WSGIMiddleware(downstream.wsgi_app)) as down_url:
        client = httpx.Client(base_url=down_url, follow_redirects=False)
        HTTPXClientInstrumentor.instrument_client(client)

        @gateway.get("/go")
        def go(authorization: str = Header("")) -> dict[str, int]:
            headers = {"Authorization": authorization, "Referer": f"/from?api_key={SECRET}"}
            return {"status": client.get("/cb", headers=headers).status_code}

        with serve_asgi(gateway) as url:
            assert httpx.get(f"{url}/go", headers={"Authorization": f"Bearer {SECRET}"}).json() == {
                "status": 302
            }
    wait_for_server_spans(recorder, 2)
    kinds = {s.kind for s in recorder.spans()}
    assert SpanKind.CLIENT in kinds
    exported = recorder.otlp_bytes()
    assert b"http.request.header.authorization" in exported  # captured, and sanitized
    assert b"access_token=REDACTED" in exported
    recorder.assert_no_raw_token(*secret_forms(SECRET))


def test_exception_message_quoting_the_token_is_scrubbed(recorder: SpanRecorder) -> None:
    app = FastAPI()
    known: dict[str, str] = {}

    @app.get("/lookup")
    def lookup(x_api_key: str = Header("")) -> str:
        return known[x_api_key]  # KeyError('<the raw key>')

    app.add_middleware(tokentrace.ASGIMiddleware)
    with serve_asgi(app) as url:
        assert httpx.get(f"{url}/lookup", headers={"X-API-Key": SECRET}).status_code == 500
    wait_for_server_spans(recorder, 1)
    spans = recorder.spans()
    assert any(event.name == "exception" for span in spans for event in span.events)
    recorder.assert_no_raw_token(*secret_forms(SECRET))


def test_record_auth_reason_loses_every_form_of_the_token(recorder: SpanRecorder) -> None:
    encoded = base64.b64encode(f"bob:{SECRET}".encode()).decode()
    app = FastAPI()

    @app.get("/r")
    def reason(request: Request) -> str:
        tokentrace.record_auth(
            "invalid", reason=f"rejected {request.headers['authorization']} at {request.url}"
        )
        return "no"

    app.add_middleware(tokentrace.ASGIMiddleware)
    with serve_asgi(app) as url:
        httpx.get(f"{url}/r?api_key=other-secret-1", headers={"Authorization": f"Basic {encoded}"})
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    assert "api_key=REDACTED" in str(span.attributes[attr.AUTH_REASON])
    recorder.assert_no_raw_token(encoded, SECRET, "other-secret-1")


def test_lifecycle_span_inside_a_request_names_the_rotated_token(recorder: SpanRecorder) -> None:
    app = FastAPI()

    @app.post("/admin/rotate")
    def rotate() -> str:
        return tokentrace.record_lifecycle("rotated", token="old-token-1", new_token="new-token-1")

    app.add_middleware(tokentrace.ASGIMiddleware)
    with serve_asgi(app) as url:
        httpx.post(f"{url}/admin/rotate", headers={"Authorization": "Bearer admin-token-1"})
    wait_for_server_spans(recorder, 1)
    [lifecycle] = [s for s in recorder.spans() if s.name == "tokentrace.lifecycle"]
    assert lifecycle.attributes is not None
    assert lifecycle.attributes[attr.TOKEN_ID] == tokentrace.fingerprint("old-token-1")
    assert lifecycle.attributes[attr.LIFECYCLE_NEW_TOKEN_ID] == tokentrace.fingerprint(
        "new-token-1"
    )
    assert lifecycle.attributes[attr.LIFECYCLE_EVENT] == "rotated"


@pytest.mark.parametrize("exp", ["1e999", "NaN", str(2**70)])
def test_hostile_jwt_numbers_do_not_stop_tagging(recorder: SpanRecorder, exp: str) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(f'{{"exp":{exp},"sub":"x"}}'.encode()).rstrip(b"=").decode()
    token = f"{header}.{payload}.sig"

    async def deny(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with serve_asgi(tokentrace.ASGIMiddleware(deny)) as url:
        httpx.get(url, headers={"Authorization": f"Bearer {token}"})
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    assert span.attributes[attr.TOKEN_KIND] == "jwt"
    assert attr.TOKEN_EXPIRES_AT not in span.attributes
    assert span.attributes[attr.AUTH_OUTCOME] == "invalid"


def test_nested_in_process_request_does_not_retag_the_outer_one(recorder: SpanRecorder) -> None:
    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("no", status_code=403)(scope, receive, send)

    inner_app = tokentrace.ASGIMiddleware(inner)
    outer = FastAPI()

    @outer.get("/outer")
    async def call_inner() -> int:
        transport = httpx.ASGITransport(app=inner_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://inner") as client:
            return (await client.get("/", headers={"X-API-Key": "inner-key-1"})).status_code

    outer.add_middleware(tokentrace.ASGIMiddleware)
    with serve_asgi(outer) as url:
        httpx.get(f"{url}/outer", headers={"X-API-Key": "outer-key-1"})
    [server] = wait_for_server_spans(recorder, 1)
    assert server.attributes is not None
    assert server.attributes[attr.TOKEN_ID] == tokentrace.fingerprint("outer-key-1")
    assert server.attributes[attr.AUTH_OUTCOME] == "success"
    inner_spans = [
        s for s in recorder.spans()
        if s.kind is SpanKind.INTERNAL and (s.attributes or {}).get(attr.AUTH_OUTCOME) == "forbidden"
    ]  # fmt: skip
    assert inner_spans[0].attributes[attr.TOKEN_ID] == tokentrace.fingerprint("inner-key-1")


def test_contrib_outside_fastapi_inside_gives_one_server_span(recorder: SpanRecorder) -> None:
    app = FastAPI()
    app.get("/x")(lambda: {"ok": True})
    with serve_asgi(OpenTelemetryMiddleware(tokentrace.ASGIMiddleware(app))) as url:
        httpx.get(f"{url}/x", headers={"X-API-Key": "k-1234"})
    servers = wait_for_server_spans(recorder, 1)
    assert len(servers) == 1


@pytest.fixture
def sqlite_traced() -> Iterator[None]:
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

    SQLite3Instrumentor().instrument()
    yield
    SQLite3Instrumentor().uninstrument()


@pytest.mark.usefixtures("sqlite_traced")
def test_streaming_wsgi_body_keeps_the_request_context(recorder: SpanRecorder) -> None:
    def streaming(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        tokentrace.record_auth("revoked", reason="revoked yesterday")
        start_response("401 Unauthorized", [("Content-Type", "text/plain")])
        db = sqlite3.connect(":memory:")
        db.cursor().execute("select 1")
        db.close()
        yield b"revoked"

    with serve_wsgi(tokentrace.WSGIMiddleware(streaming)) as url:
        assert httpx.get(url, headers={"X-API-Key": "stream-key-1"}).text == "revoked"
    [server] = wait_for_server_spans(recorder, 1)
    assert server.attributes is not None
    assert server.attributes[attr.AUTH_OUTCOME] == "revoked"
    assert server.attributes[attr.AUTH_OUTCOME_SOURCE] == "recorded"
    db_spans = [s for s in recorder.spans() if s.kind is SpanKind.CLIENT]
    assert db_spans
    assert db_spans[0].attributes[attr.TOKEN_ID] == tokentrace.fingerprint("stream-key-1")


@pytest.mark.parametrize(
    ("query", "recorded"),
    [("api_key=decoy&api_key=REAL-1", None), ("api_key=same-1&api_key=same-1", "same-1")],
)
def test_repeated_query_token_is_never_attributed_to_a_decoy(
    recorder: SpanRecorder, query: str, recorded: str | None
) -> None:
    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("ok")(scope, receive, send)

    with serve_asgi(tokentrace.ASGIMiddleware(ok)) as url:
        httpx.get(f"{url}/?{query}")
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    expected = tokentrace.fingerprint(recorded) if recorded else None
    assert span.attributes.get(attr.TOKEN_ID) == expected
    recorder.assert_no_raw_token("decoy", "REAL-1", "same-1")


def test_environment_is_the_fallback_and_arguments_win(
    recorder: SpanRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENTRACE_SOURCES", "header:x-token")
    monkeypatch.setenv("TOKENTRACE_SUBJECT_PLAIN", "true")
    jwt = make_jwt(sub="user-7", exp=NOW + 60)

    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("ok")(scope, receive, send)

    from_env = tokentrace.ASGIMiddleware(ok)
    from_args = tokentrace.ASGIMiddleware(ok, sources="header:authorization", subject_plain=False)
    for app in (from_env, from_args):
        with serve_asgi(app) as url:
            httpx.get(url, headers={"X-Token": jwt, "Authorization": "Bearer other-1"})
    env_span, arg_span = wait_for_server_spans(recorder, 2)
    assert env_span.attributes is not None and arg_span.attributes is not None
    assert env_span.attributes[attr.TOKEN_SOURCE] == "header:x-token"
    assert env_span.attributes[attr.TOKEN_SUBJECT] == "user-7"
    assert arg_span.attributes[attr.TOKEN_ID] == tokentrace.fingerprint("other-1")
    monkeypatch.setenv("TOKENTRACE_PROPAGATE", "maybe")
    with pytest.raises(tokentrace.SettingsError, match="TOKENTRACE_PROPAGATE"):
        tokentrace.ASGIMiddleware(ok)
    monkeypatch.setenv("TOKENTRACE_SOURCES", "body:token")
    monkeypatch.delenv("TOKENTRACE_PROPAGATE")
    with pytest.raises(tokentrace.SettingsError, match="body:token"):
        tokentrace.ASGIMiddleware(ok)


def test_propagation_off_also_stops_forwarding_an_upstream_id(recorder: SpanRecorder) -> None:
    tagger_app = tokentrace.ASGIMiddleware(lambda s, r, se: asyncio.sleep(0), propagate=False)
    from opentelemetry import baggage, context

    from tokentrace._analysis import NO_TOKEN
    from tokentrace._request import RequestState

    upstream = "a" * 32
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request", kind=SpanKind.SERVER) as request_span:
        token = context.attach(baggage.set_baggage(attr.BAGGAGE_TOKEN_ID, upstream))
        try:
            detach = tagger_app.attach_context(RequestState(NO_TOKEN))
            assert detach is not None
            assert baggage.get_baggage(attr.BAGGAGE_TOKEN_ID) is None
            # Only the baggage entry is gone: the request's span is still the current one.
            assert trace.get_current_span() is request_span
            assert request_span.is_recording()
            context.detach(detach)  # type: ignore[arg-type]
            assert baggage.get_baggage(attr.BAGGAGE_TOKEN_ID) == upstream
        finally:
            context.detach(token)
        assert trace.get_current_span() is request_span
    [ended] = recorder.server_spans()
    assert ended.name == "request"
    assert ended.context.span_id == request_span.get_span_context().span_id


def test_access_log_through_uvicorns_own_formatter(caplog: pytest.LogCaptureFixture) -> None:
    from uvicorn.logging import AccessFormatter

    redactor = tokentrace.AccessLogRedactor()
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/x?API%5Fkey={SECRET}&a=1", "1.1", 200), None,
    )  # fmt: skip
    assert redactor.filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(record)
    assert line == '127.0.0.1:5000 - "GET /x?API%5Fkey=REDACTED&a=1 HTTP/1.1" 200 OK'
