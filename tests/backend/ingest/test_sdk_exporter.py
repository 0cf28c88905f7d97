"""The OTel Python SDK's own OTLP/HTTP exporter against a real `tokentrace serve`."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.backend.ingest.decoders import require_native_decoder
from tests.backend.ingest.serve_process import ServeProcess
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
from tokentrace_backend.storage.database import stored_files

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


def test_no_raw_token_reaches_the_database_file(start_server: Callable[..., ServeProcess]) -> None:
    """Spans carry fingerprints only; nothing the backend writes may hold a raw token."""
    server = start_server()
    provider = _provider(server, Compression.NoCompression)
    tracer = provider.get_tracer("test")
    for index in range(50):
        raw = RAW_TOKENS[index % len(RAW_TOKENS)]
        with tracer.start_as_current_span(
            f"GET /items/{index}",
            kind=SpanKind.SERVER,
            attributes={TOKEN_ID: fingerprint(raw), AUTH_OUTCOME: "success"},
        ):
            pass
    provider.shutdown()
    assert server.stop() == 0
    counts = server.query("SELECT token_id, count(*) FROM spans GROUP BY ALL ORDER BY 1")
    assert counts == sorted((fingerprint(raw), 25) for raw in RAW_TOKENS)
    # Every file the server wrote: the DuckDB file and its log, the journal, the server log.
    stored = b"".join(path.read_bytes() for path in stored_files(server.db_path))
    stored += server.log().encode()
    assert len(stored) > 0
    for raw in RAW_TOKENS:
        assert raw.encode() not in stored
        assert raw not in server.log()
