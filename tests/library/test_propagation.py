"""The token id travels downstream in W3C baggage: a FastAPI gateway calls a Flask
service (which never sees the token) that queries sqlite; every span carries the id."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import flask
import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.trace import SpanKind

import tokentrace
from tests.library.server_spans import wait_for_server_spans
from tests.loopback import serve_asgi, serve_wsgi
from tokentrace import attributes as attr
from tokentrace.testing import SpanRecorder

TOKEN = "gateway-user-token-5521"


def orders_app() -> flask.Flask:
    app = flask.Flask("orders")

    @app.get("/orders")
    def orders() -> dict[str, int]:
        db = sqlite3.connect(":memory:")
        try:
            cursor = db.cursor()
            cursor.execute("select 3")
            (count,) = cursor.fetchone()
        finally:
            db.close()
        return {"count": count}

    app.wsgi_app = tokentrace.WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


def gateway_app(orders_url: str, *, propagate: bool, forward_token: bool = True) -> FastAPI:
    app = FastAPI()
    client = httpx.Client(base_url=orders_url)
    HTTPXClientInstrumentor.instrument_client(client)

    @app.get("/api/orders")
    def list_orders() -> dict[str, int]:
        # Called with ?api_key= to prove the client span's URL is scrubbed too.
        params = {"api_key": TOKEN} if forward_token else {}
        result: dict[str, int] = client.get("/orders", params=params).json()
        return result

    app.add_middleware(tokentrace.ASGIMiddleware, propagate=propagate)
    return app


@pytest.fixture
def sqlite_instrumented() -> Iterator[None]:
    SQLite3Instrumentor().instrument()
    yield
    SQLite3Instrumentor().uninstrument()


@pytest.mark.usefixtures("sqlite_instrumented")
def test_token_id_reaches_downstream_service_and_database(recorder: SpanRecorder) -> None:
    with serve_wsgi(orders_app()) as orders_url:
        with serve_asgi(gateway_app(orders_url, propagate=True)) as gateway_url:
            response = httpx.get(
                f"{gateway_url}/api/orders", headers={"Authorization": f"Bearer {TOKEN}"}
            )
    assert response.json() == {"count": 3}
    servers = wait_for_server_spans(recorder, 2)
    token_id = tokentrace.fingerprint(TOKEN)
    spans = recorder.spans()
    assert len({s.context.trace_id for s in spans}) == 1
    client = [s for s in spans if s.kind is SpanKind.CLIENT]
    kinds = {(s.kind, s.attributes.get(attr.TOKEN_ID)) for s in spans if s.attributes}
    assert (SpanKind.CLIENT, token_id) in kinds  # httpx span in the gateway
    assert {s.attributes.get(attr.TOKEN_ID) for s in servers if s.attributes} == {token_id}
    db_spans = [s for s in client if s.attributes and "db.system" in str(dict(s.attributes))]
    assert db_spans
    assert all(s.attributes and s.attributes[attr.TOKEN_ID] == token_id for s in db_spans)
    # orders got the token only as ?api_key= from the gateway: its own span names it too
    recorder.assert_no_raw_token(TOKEN)


@pytest.mark.usefixtures("sqlite_instrumented")
def test_propagation_off_keeps_the_id_in_the_gateway(recorder: SpanRecorder) -> None:
    with serve_wsgi(orders_app()) as orders_url:
        gateway = gateway_app(orders_url, propagate=False, forward_token=False)
        with serve_asgi(gateway) as gateway_url:
            httpx.get(f"{gateway_url}/api/orders", headers={"Authorization": f"Bearer {TOKEN}"})
    wait_for_server_spans(recorder, 2)
    by_scope: dict[str, set[object]] = {}
    for span in recorder.spans():
        scope = span.instrumentation_scope.name if span.instrumentation_scope else ""
        by_scope.setdefault(scope, set()).add((span.attributes or {}).get(attr.TOKEN_ID))
    token_id = tokentrace.fingerprint(TOKEN)
    assert by_scope["opentelemetry.instrumentation.httpx"] == {token_id}  # in the gateway
    assert by_scope["opentelemetry.instrumentation.sqlite3"] == {None}  # in orders
    assert by_scope["opentelemetry.instrumentation.wsgi"] == {None}
