"""The OTel Python SDK's own OTLP/HTTP exporter against a real `tokentrace serve`."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI, Request
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

import tokentrace
from tests.backend.ingest.decoders import require_native_decoder
from tests.backend.ingest.serve_process import ServeProcess
from tests.leak_search import stored_secrets
from tests.loopback import serve_asgi
from tokentrace.attributes import (
    AUTH_OUTCOME,
    AUTH_OUTCOME_SOURCE,
    AUTH_REASON,
    TOKEN_ID,
    TOKEN_KEY_ID,
    TOKEN_NAME,
    TOKEN_OWNER,
    TOKEN_SCOPES,
)

TOKEN_FINGERPRINT = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
RAW_TOKENS = ("sk_live_SECRET_raw_token_4242", "eyJhbGciOiJIUzI1NiJ9.raw.jwt-secret")
HASH_KEY = b"ingest-test-hash-key"


def fingerprint(raw_token: str) -> str:
    """The contract's token id (docs/library.md#span-attributes): the first 16 bytes of
    HMAC-SHA256(hash key, raw token), in hex."""
    return hmac.new(HASH_KEY, raw_token.encode(), hashlib.sha256).digest()[:16].hex()


def _provider(server: ServeProcess, compression: Compression) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": "gateway", "service.version": "2.1.0"})
    )
    exporter = OTLPSpanExporter(endpoint=server.traces_url, compression=compression, timeout=10)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.mark.parametrize("decoder", ["native", "python"])
def test_sdk_exporter_spans_land_in_promoted_columns(
    start_server: Callable[..., ServeProcess], decoder: str
) -> None:
    if decoder == "native":
        require_native_decoder()
    # Decoding in a worker process, with each decoder.
    server = start_server({"TOKENTRACE_DECODE_WORKERS": "1", "TOKENTRACE_DECODER": decoder})
    provider = _provider(server, Compression.Gzip)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span(
        "GET /orders/{id}",
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": "GET",
            "http.route": "/orders/{id}",
            "http.response.status_code": 500,
            "url.path": "/orders/7",
            "client.address": "10.0.0.9",
            "user_agent.original": "curl/8.5",
            TOKEN_ID: TOKEN_FINGERPRINT,
            TOKEN_KEY_ID: "k2026",
            AUTH_OUTCOME: "success",
            AUTH_OUTCOME_SOURCE: "recorded",
            TOKEN_OWNER: "svc:billing",
            TOKEN_NAME: "billing ci",
            TOKEN_SCOPES: ["orders:read", "orders:write"],
            AUTH_REASON: "ok",
        },
    ) as server_span:
        with tracer.start_as_current_span(
            "SELECT orders",
            kind=SpanKind.CLIENT,
            attributes={
                "db.system": "sqlite",
                "server.address": "db.local",
                TOKEN_ID: TOKEN_FINGERPRINT,
            },
        ) as db_span:
            db_span.record_exception(RuntimeError("database is locked"))
            db_span.set_status(Status(StatusCode.ERROR, "locked"))
        server_span.set_status(Status(StatusCode.ERROR))
    provider.shutdown()
    assert server.stop() == 0

    rows = server.query(
        "SELECT name, kind, status_code, http_method, http_route, http_status, url_path,"
        " client_address, user_agent, token_id, token_key_id, auth_outcome,"
        " auth_outcome_source, token_owner, token_name, service_name, service_version,"
        " parent_span_id IS NULL, attributes, db_system, server_address, error_type,"
        " error_message, status_message, duration_ns > 0, batch_id"
        " FROM spans ORDER BY kind"
    )
    assert len(rows) == 2
    server_row, db_row = rows
    assert server_row[:17] == (
        "GET /orders/{id}", 2, 2, "GET", "/orders/{id}", 500, "/orders/7", "10.0.0.9",
        "curl/8.5", TOKEN_FINGERPRINT, "k2026", "success", "recorded", "svc:billing",
        "billing ci", "gateway", "2.1.0",
    )  # fmt: skip
    assert server_row[17] is True
    leftover = json.loads(str(server_row[18]))
    assert leftover == {TOKEN_SCOPES: ["orders:read", "orders:write"], AUTH_REASON: "ok"}
    assert db_row[0] == "SELECT orders"
    assert db_row[17] is False  # has a parent
    assert db_row[19:24] == ("sqlite", "db.local", "RuntimeError", "database is locked", "locked")
    assert db_row[24] is True
    assert db_row[25] >= 1

    (resource,) = server.query("SELECT service_name, attributes FROM resources")
    assert resource[0] == "gateway"
    assert json.loads(str(resource[1]))["telemetry.sdk.language"] == "python"
    (events,) = server.query("SELECT events FROM spans WHERE kind = 3")
    (event,) = json.loads(str(events[0]))
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "RuntimeError"


@pytest.fixture
def capture_all_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ask the OTel HTTP instrumentations to record every header (their opt-in)."""
    for direction in ("REQUEST", "RESPONSE"):
        monkeypatch.setenv(f"OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_{direction}", ".*")


def _instrumented_app(provider: TracerProvider) -> FastAPI:
    """An app with tokentrace whose spans would carry its raw tokens if nothing scrubbed
    them: the URL query, the captured headers, and an exception message quoting the token."""
    app = FastAPI()
    known: dict[str, str] = {}

    @app.get("/lookup")
    def lookup(request: Request) -> str:
        token = (
            request.query_params.get("api_key")
            or request.headers.get("x-api-key")
            or request.headers.get("authorization", "").removeprefix("Bearer ")
        )
        return known[token]  # KeyError('<the raw token>'): recorded as an exception event

    app.add_middleware(
        cast("Any", tokentrace.ASGIMiddleware),
        tracer_provider=provider,
        fingerprinter=tokentrace.Fingerprinter(HASH_KEY, "k-ingest"),
        exclude_spans=["receive", "send"],
    )
    return app


@pytest.mark.usefixtures("capture_all_headers")
@pytest.mark.parametrize("decoder", ["native", "python"])
def test_no_raw_token_reaches_the_database_file(
    start_server: Callable[..., ServeProcess], decoder: str
) -> None:
    """Raw tokens where an app leaks them (URL query, captured headers, exception
    messages), exported by the SDK's OTLP exporter: the backend stores none of them.

    From an app with tokentrace, the library scrubs them before export; from an app
    without it, the backend redacts the captured credential headers at ingest
    (docs/backend.md). The decoded rows of every table are searched, not only the bytes.
    """
    if decoder == "native":
        require_native_decoder()
    server = start_server({"TOKENTRACE_DECODER": decoder})
    provider = _provider(server, Compression.NoCompression)
    query_key, header_key, bearer = RAW_TOKENS[0], "xk_live_header_6d1f0b", RAW_TOKENS[1]
    cookie, referer_token = "ck_session_b7e2a9", "rt_referer_51c3d8"
    with serve_asgi(_instrumented_app(provider)) as url:
        # One connection each: uvicorn closes a connection whose request raised.
        responses = [
            httpx.get(f"{url}/lookup", params={"api_key": query_key}),
            httpx.get(f"{url}/lookup", headers={"X-API-Key": header_key}),
            httpx.get(
                f"{url}/lookup",
                headers={
                    "Authorization": f"Bearer {bearer}",
                    "Cookie": f"session={cookie}",
                    "Referer": f"https://app.test/back?access_token={referer_token}",
                },
            ),
        ]
    assert [response.status_code for response in responses] == [500, 500, 500]

    provider.shutdown()

    # An app without tokentrace (its own provider: no tokentrace span processor), whose
    # instrumentation captured credential headers.
    uninstrumented = ("dk_plain_auth_93a1", "dk_plain_key_2f7c", "dk_plain_cookie_c04e")
    plain_provider = _provider(server, Compression.NoCompression)
    tracer = plain_provider.get_tracer("no-tokentrace")
    with tracer.start_as_current_span(
        "GET /plain",
        kind=SpanKind.SERVER,
        attributes={
            "http.request.header.authorization": [f"Bearer {uninstrumented[0]}"],
            "http.request.header.x_api_key": uninstrumented[1],
            "http.response.header.set-cookie": [f"sid={uninstrumented[2]}; HttpOnly"],
        },
    ):
        pass
    plain_provider.shutdown()
    assert server.stop() == 0

    # One SERVER span per request, tagged with the id of its token; the plain app's untagged.
    counts = server.query("SELECT token_id, count(*) FROM spans WHERE kind = 2 GROUP BY ALL")
    assert set(counts) == {
        *((fingerprint(raw), 1) for raw in (query_key, header_key, bearer)),
        (None, 1),
    }
    # The exception events were exported (their messages were scrubbed, not dropped).
    assert server.query("SELECT count(*) FROM spans WHERE events LIKE '%KeyError%'") == [(3,)]
    raw_tokens = [query_key, header_key, bearer, cookie, referer_token, *uninstrumented]
    assert stored_secrets(server.db_path, raw_tokens) == []
    for raw in raw_tokens:
        assert raw not in server.log()
    # (The search reaches where a leak would be: the redacted values are found.)
    redacted = {where for where, _ in stored_secrets(server.db_path, ["REDACTED"])}
    assert {"spans.attributes", "spans.events"} <= redacted


@pytest.mark.parametrize("decoder", ["native", "python"])
def test_raw_tokens_in_urls_of_an_app_without_tokentrace_are_redacted(
    start_server: Callable[..., ServeProcess], decoder: str
) -> None:
    """An app without tokentrace (the SDK's exporter, no tokentrace span processor) whose
    spans carry raw tokens in URL attributes and in captured ``Referer`` / ``Location``
    headers: the backend stores the URLs with the library's ``REDACTED`` for the tokens."""
    if decoder == "native":
        require_native_decoder()
    server = start_server({"TOKENTRACE_DECODER": decoder})
    raw = ("uk_full_raw_7d21e9", "uk_query_raw_0c55aa", "uk_referer_raw_b3f1", "uk_loc_raw_9e04")
    full = f"https://api.example/orders?api_key={raw[0]}&page=2"
    provider = TracerProvider(resource=Resource.create({"service.name": "plain", "http.url": full}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=server.traces_url, timeout=10))
    )
    tracer = provider.get_tracer("no-tokentrace")
    with tracer.start_as_current_span(
        "GET /orders",
        kind=SpanKind.SERVER,
        attributes={
            "url.full": full,
            "url.query": f"page=2&token={raw[1]}",
            "http.target": f"/orders?access_token={raw[1]}",
            "http.request.header.referer": [f"https://app.example/back?key={raw[2]}"],
            "http.response.header.location": [f"/login?next=%2F&api_key={raw[3]}#top"],
        },
    ) as span:
        span.add_event("redirect", {"http.url": full})
    provider.shutdown()
    assert server.stop() == 0

    assert stored_secrets(server.db_path, raw) == []
    for value in raw:
        assert value not in server.log()
    ((url_path, attributes, events),) = server.query(
        "SELECT url_path, attributes, events FROM spans"
    )
    assert url_path == "/orders"
    assert json.loads(str(attributes)) == {
        "url.full": "https://api.example/orders?api_key=REDACTED&page=2",
        "url.query": "page=2&token=REDACTED",
        "http.request.header.referer": ["https://app.example/back?key=REDACTED"],
        "http.response.header.location": ["/login?next=%2F&api_key=REDACTED#top"],
    }
    assert json.loads(str(events))[0]["attributes"] == {
        "http.url": "https://api.example/orders?api_key=REDACTED&page=2"
    }
    ((resource,),) = server.query("SELECT attributes FROM resources")
    assert json.loads(str(resource))["http.url"] == (
        "https://api.example/orders?api_key=REDACTED&page=2"
    )
