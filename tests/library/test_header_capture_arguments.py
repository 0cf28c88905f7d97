"""Header capture configured through instrumentation arguments, not only through the
``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*`` variables, is sanitized: Authorization,
cookies and API-key headers are never exported raw, and URL-valued headers (``Location``)
lose their token-bearing parameters. One test per way of configuring it, on real servers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask
import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

import tokentrace
from tests.library.server_spans import wait_for_server_spans
from tests.loopback import serve_asgi, serve_wsgi
from tokentrace.testing import SpanRecorder

SECRET = "capture-secret-Q7wz91"
CUSTOM = "custom-header-secret-Pm40"
ALL = [".*"]
REQUEST_HEADERS = {
    "Authorization": f"Bearer {SECRET}",
    "X-API-Key": SECRET,
    "Api-Key": SECRET,
    "Cookie": f"session={SECRET}",
    "Proxy-Authorization": f"Basic {SECRET}",
    "X-Session-Secret": CUSTOM,
    "X-Plain": "visible-value",
}


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.get("/r")
    def redirect() -> PlainTextResponse:
        response = PlainTextResponse("moved", status_code=302)
        response.headers["Location"] = f"/done?access_token={SECRET}&x=1"
        response.set_cookie("session", SECRET)
        return response

    return app


def check_export(recorder: SpanRecorder, *, custom_sanitized: bool = False) -> None:
    [span] = wait_for_server_spans(recorder, 1)
    attributes = span.attributes or {}
    captured = {key: value for key, value in attributes.items() if ".header." in key}
    # Captured (so a leak would show), but sanitized.
    assert captured["http.request.header.authorization"] == ("[REDACTED]",)
    assert captured["http.request.header.x_api_key"] == ("[REDACTED]",)
    assert captured["http.request.header.cookie"] == ("[REDACTED]",)
    assert captured["http.response.header.set_cookie"] == ("[REDACTED]",)
    assert captured["http.request.header.x_plain"] == ("visible-value",)
    assert captured["http.response.header.location"] == ("/done?access_token=REDACTED&x=1",)
    secrets = [SECRET, CUSTOM] if custom_sanitized else [SECRET]
    recorder.assert_no_raw_token(*secrets)


def get(url: str) -> None:
    response = httpx.get(f"{url}/r", headers=REQUEST_HEADERS, follow_redirects=False)
    assert response.status_code == 302


def test_arguments_of_tokentrace_middleware(recorder: SpanRecorder) -> None:
    app = tokentrace.ASGIMiddleware(
        fastapi_app(),
        http_capture_headers_server_request=ALL,
        http_capture_headers_server_response=ALL,
        http_capture_headers_sanitize_fields=["x-session-secret"],
    )
    with serve_asgi(app) as url:
        get(url)
    check_export(recorder, custom_sanitized=True)


def test_arguments_of_fastapi_instrumentor(recorder: SpanRecorder) -> None:
    app = fastapi_app()
    app.add_middleware(tokentrace.ASGIMiddleware)
    FastAPIInstrumentor.instrument_app(
        app,
        http_capture_headers_server_request=ALL,
        http_capture_headers_server_response=ALL,
        http_capture_headers_sanitize_fields=[],
    )
    try:
        with serve_asgi(app) as url:
            get(url)
    finally:
        FastAPIInstrumentor.uninstrument_app(app)
    check_export(recorder)


def test_arguments_of_contrib_middleware_outside(recorder: SpanRecorder) -> None:
    app = OpenTelemetryMiddleware(
        tokentrace.ASGIMiddleware(fastapi_app()),
        http_capture_headers_server_request=ALL,
        http_capture_headers_server_response=ALL,
    )
    with serve_asgi(app) as url:
        get(url)
    check_export(recorder)


def flask_app() -> Any:
    app = flask.Flask("capture")

    @app.get("/r")
    def redirect() -> flask.Response:
        response = flask.make_response("moved", 302)
        response.headers["Location"] = f"/done?access_token={SECRET}&x=1"
        response.set_cookie("session", SECRET)
        return response

    app.wsgi_app = tokentrace.WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


@pytest.mark.parametrize(
    ("build", "serve"),
    [(fastapi_app, serve_asgi), (flask_app, serve_wsgi)],
    ids=["asgi", "wsgi"],
)
def test_environment_variables(
    build: Callable[[], Any],
    serve: Callable[[Any], Any],
    monkeypatch: pytest.MonkeyPatch,
    recorder: SpanRecorder,
) -> None:
    """The other way (WSGI instrumentations take capture settings from it only)."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", ".*")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE", ".*")
    monkeypatch.setenv(
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS", "x-session-secret"
    )
    app = build()
    if isinstance(app, FastAPI):
        app.add_middleware(tokentrace.ASGIMiddleware)
    with serve(app) as url:
        get(url)
    check_export(recorder, custom_sanitized=True)
