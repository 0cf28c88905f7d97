"""No raw token in any exported byte or log line.

Every kind of credential goes through real ASGI and WSGI servers while the OTel
instrumentation is told to capture every request and response header, under the old
and the old+stable (``http/dup``) HTTP semantic conventions. Then the serialized OTLP
bytes and the captured logs are searched for every raw secret.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import flask
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import tokentrace
from tests.library.server_spans import wait_for_server_spans
from tests.library.tokens import (
    ALL_SECRETS,
    API_KEY,
    BASIC_ENCODED,
    BEARER,
    COOKIE_TOKEN,
    JWT_EXPIRED,
    JWT_VALID,
    QUERY_KEY,
)
from tests.loopback import serve_asgi, serve_wsgi
from tokentrace.testing import SpanRecorder

SOURCES = "header:authorization,header:x-api-key,query:api_key,query:token,cookie:session"

REQUESTS: list[dict[str, Any]] = [
    {"headers": {"Authorization": f"Bearer {BEARER}"}},
    {"headers": {"Authorization": f"Basic {BASIC_ENCODED}"}},
    {"headers": {"Authorization": f"Bearer {JWT_VALID}"}},
    {"headers": {"Authorization": f"Bearer {JWT_EXPIRED}"}, "path": "/deny"},
    {"headers": {"X-API-Key": API_KEY, "Proxy-Authorization": f"Bearer {BEARER}"}},
    {"params": {"api_key": QUERY_KEY, "page": "2"}},
    {"params": {"token": QUERY_KEY}, "headers": {"Authorization": f"Bearer {BEARER}"}},
    {"headers": {"Cookie": f"theme=dark; session={COOKIE_TOKEN}"}},
    {"path": "/login"},  # the response sets a session cookie
]


def starlette_app() -> Any:
    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def deny(request: Request) -> PlainTextResponse:
        return PlainTextResponse("expired", status_code=401)

    async def login(request: Request) -> PlainTextResponse:
        response = PlainTextResponse("welcome")
        response.set_cookie("session", COOKIE_TOKEN)
        return response

    routes = [Route("/", ok), Route("/deny", deny), Route("/login", login)]
    return tokentrace.ASGIMiddleware(Starlette(routes=routes), sources=SOURCES)


def flask_app() -> Any:
    app = flask.Flask("leaks")

    @app.get("/")
    def ok() -> str:
        return "ok"

    @app.get("/deny")
    def deny() -> tuple[str, int]:
        return "expired", 401

    @app.get("/login")
    def login() -> flask.Response:
        response = flask.make_response("welcome")
        response.set_cookie("session", COOKIE_TOKEN)
        return response

    app.wsgi_app = tokentrace.WSGIMiddleware(app.wsgi_app, sources=SOURCES)  # type: ignore[method-assign]
    return app


SERVERS: dict[str, tuple[Callable[[], Any], Callable[[Any], AbstractContextManager[str]]]] = {
    "asgi": (starlette_app, serve_asgi),
    "wsgi": (flask_app, serve_wsgi),
}


@pytest.fixture
def capture_all_headers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", ".*")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE", ".*")
    return


@pytest.mark.parametrize("server", sorted(SERVERS))
@pytest.mark.usefixtures("capture_all_headers")
def test_no_raw_token_in_otlp_bytes_or_logs(
    server: str, semconv: str, recorder: SpanRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    build, serve = SERVERS[server]
    # tokentrace's and OpenTelemetry's own log lines (the test client and the web
    # servers' access logs are not ours: they log URLs as they are).
    caplog.set_level(logging.DEBUG, logger="tokentrace")
    caplog.set_level(logging.DEBUG, logger="opentelemetry")
    with serve(build()) as url:
        for request in REQUESTS:
            response = httpx.get(
                url + request.get("path", "/"),
                headers=request.get("headers"),
                params=request.get("params"),
            )
            assert response.status_code in (200, 401)
    spans = wait_for_server_spans(recorder, len(REQUESTS))
    assert len(spans) == len(REQUESTS)
    exported = recorder.otlp_bytes()
    # The headers were captured (so the test would see a leak), but sanitized.
    assert b"http.request.header.authorization" in exported
    assert b"[REDACTED]" in exported
    if semconv == "http/dup" and server == "asgi":
        assert b"url.query" in exported
    own_logs = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(("tokentrace", "opentelemetry"))
    )
    recorder.assert_no_raw_token(*ALL_SECRETS, extra=[own_logs.encode()])
    # Every credential was seen and fingerprinted.
    token_ids = {s.attributes.get("tokentrace.token.id") for s in spans if s.attributes}
    for secret in (BEARER, API_KEY, QUERY_KEY, COOKIE_TOKEN, JWT_VALID):
        assert tokentrace.fingerprint(secret) in token_ids
