"""``tokentrace serve --client-ip keep|truncate|drop``: what is stored of client addresses,
sent over real OTLP/HTTP by the SDK's exporter and searched for in every stored table."""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from tests.backend.ingest.decoders import require_native_decoder
from tests.backend.ingest.serve_process import ServeProcess
from tests.backend.span_builder import SpanBuilder
from tokentrace.attributes import AUTH_OUTCOME, CLIENT_ADDRESS_ATTRIBUTES, TOKEN_ID
from tokentrace_backend.detect.networks import network_of
from tokentrace_backend.ingest import decode_spans
from tokentrace_backend.ingest.client_addresses import (
    protect_client_addresses,
    truncate_addresses_in,
)

TOKEN = "cd" * 16
# Each full address appears in one attribute; none is a prefix of its own network address.
# (net.peer.ip and http.client_ip fill client_address only when client.address is absent:
# INTERNAL spans of their own carry them.)
FALLBACK_ADDRESSES = ({"net.peer.ip": "198.51.100.23"}, {"http.client_ip": "198.51.100.24"})
SPAN_ADDRESSES = {
    "client.address": "203.0.113.77",
    "network.peer.address": "2001:db8:cafe:1234::77",
    "net.sock.peer.addr": "192.0.2.45",
    "http.request.header.x-forwarded-for": ("192.0.2.46, 10.9.8.7", "2001:db8:beef:1::5"),
    "http.request.header.forwarded": ('for="[2001:db8:f00d:2::6]:4711";by=192.0.2.47',),
    "http.request.header.x-real-ip": ("198.51.100.25",),
}
RESOURCE_ADDRESS = "192.0.2.99"
FULL_ADDRESSES = (
    "203.0.113.77",
    "198.51.100.23",
    "198.51.100.24",
    "198.51.100.25",
    "2001:db8:cafe:1234::77",
    "192.0.2.45",
    "192.0.2.46",
    "192.0.2.47",
    "192.0.2.99",
    "10.9.8.7",
    "2001:db8:beef:1::5",
    "2001:db8:f00d:2::6",
)


def _send(server: ServeProcess) -> None:
    resource = Resource.create({"service.name": "gateway", "net.sock.peer.addr": RESOURCE_ADDRESS})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=server.traces_url, timeout=10))
    )
    tracer = provider.get_tracer("test")
    for index in range(3):
        with tracer.start_as_current_span(
            "GET /orders",
            kind=SpanKind.SERVER,
            attributes={
                **SPAN_ADDRESSES,
                "http.request.method": "GET",
                "http.route": "/orders",
                "http.response.status_code": 200,
                "url.path": f"/orders/{index}",
                TOKEN_ID: TOKEN,
                AUTH_OUTCOME: "success",
            },
        ):
            for attributes in FALLBACK_ADDRESSES:
                with tracer.start_as_current_span("work", attributes=attributes):
                    pass
    provider.shutdown()


def _wait_derived(server: ServeProcess) -> None:
    """Until the background refresh derived the requests and the detectors read them."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = httpx.get(f"{server.api_url}/api/tokens/{TOKEN}", timeout=5)
        if answer.status_code == 200 and answer.json()["requests"] == 3:
            metrics = httpx.get(f"{server.api_url}/metrics", timeout=5).text
            if "\ntokentrace_detection_batches_behind 0" in metrics:
                return
        time.sleep(0.1)
    raise AssertionError("the requests were never derived and detected")


def _found(db_path: Path) -> dict[str, list[str]]:
    """Every full address found in any column of any table, cast to text: where."""
    found: dict[str, list[str]] = {}
    with duckdb.connect(str(db_path), read_only=True) as connection:
        columns = connection.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'main'"
        ).fetchall()
        for table, column in columns:
            texts = connection.execute(
                f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM "{table}"'
                f' WHERE "{column}" IS NOT NULL'
            ).fetchall()
            for (text,) in texts:
                for address in FULL_ADDRESSES:
                    if address in text:
                        found.setdefault(address, []).append(f"{table}.{column}")
    return found


def _serve(tmp_path: Path, mode: str, decoder: str) -> ServeProcess:
    if decoder == "native":
        require_native_decoder()
    server = ServeProcess(
        tmp_path / f"{mode}.duckdb", {"TOKENTRACE_DECODER": decoder}, ["--client-ip", mode]
    )
    return server.start()


def test_keep_stores_the_addresses_so_the_search_finds_them(tmp_path: Path) -> None:
    server = _serve(tmp_path, "keep", "python")
    try:
        _send(server)
        _wait_derived(server)
    finally:
        assert server.stop() == 0
    found = _found(server.db_path)
    assert set(found) == set(FULL_ADDRESSES)
    assert "spans.client_address" in found["203.0.113.77"]
    assert "resources.attributes" in found[RESOURCE_ADDRESS]


@pytest.mark.parametrize("decoder", ["python", "native"])
def test_truncate_stores_networks_only(tmp_path: Path, decoder: str) -> None:
    server = _serve(tmp_path, "truncate", decoder)
    try:
        _send(server)
        _wait_derived(server)
    finally:
        assert server.stop() == 0
    assert _found(server.db_path) == {}
    with duckdb.connect(str(server.db_path), read_only=True) as connection:
        stored = connection.execute(
            "SELECT DISTINCT client_address, attributes FROM spans WHERE kind = 2"
        ).fetchall()
        (client_address, attributes_json), *others = stored
        assert others == []
        assert client_address == "203.0.113.0"
        assert connection.execute(
            "SELECT DISTINCT client_address FROM spans WHERE kind = 1 ORDER BY 1"
        ).fetchall() == [("198.51.100.0",)]
        attributes = json.loads(attributes_json)
        assert attributes["network.peer.address"] == "2001:db8:cafe::"
        assert attributes["http.request.header.x-forwarded-for"] == [
            "192.0.2.0, 10.9.8.0",
            "2001:db8:beef::",
        ]
        assert attributes["http.request.header.forwarded"] == [
            'for="[2001:db8:f00d::]:4711";by=192.0.2.0'
        ]
        (resource,) = connection.execute("SELECT resource_id, attributes FROM resources").fetchall()
        assert json.loads(resource[1])["net.sock.peer.addr"] == "192.0.2.0"
        assert connection.execute("SELECT DISTINCT resource_id FROM spans").fetchall() == [
            (resource[0],)
        ]
        # The derived tables and the new-network detector's profile see the network.
        assert connection.execute(
            "SELECT DISTINCT client_address FROM token_requests"
        ).fetchall() == [("203.0.113.0",)]
        assert connection.execute("SELECT DISTINCT network FROM token_clients").fetchall() == [
            ("203.0.113.0/24",)
        ]


def test_drop_stores_no_address(tmp_path: Path) -> None:
    server = _serve(tmp_path, "drop", "python")
    try:
        _send(server)
        _wait_derived(server)
    finally:
        assert server.stop() == 0
    assert _found(server.db_path) == {}
    with duckdb.connect(str(server.db_path), read_only=True) as connection:
        assert connection.execute("SELECT DISTINCT client_address FROM spans").fetchall() == [
            (None,)
        ]
        for (attributes_json,) in connection.execute("SELECT attributes FROM spans").fetchall():
            assert CLIENT_ADDRESS_ATTRIBUTES.isdisjoint(json.loads(attributes_json or "{}"))
        (resource,) = connection.execute("SELECT attributes FROM resources").fetchone()
        assert "net.sock.peer.addr" not in json.loads(resource)


def test_network_of_accepts_a_truncated_address() -> None:
    assert network_of("203.0.113.0") == network_of("203.0.113.77") == "203.0.113.0/24"
    assert network_of("2001:db8:cafe::") == network_of("2001:db8:cafe:1234::77")


@pytest.mark.parametrize(
    ("text", "truncated"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("203.0.113.77:8443", "203.0.113.0:8443"),
        ("::ffff:203.0.113.77", "203.0.113.0"),
        ("[2001:db8:cafe:1234::77]:443", "[2001:db8:cafe::]:443"),
        ("for=192.0.2.60;proto=http;by=203.0.113.43", "for=192.0.2.0;proto=http;by=203.0.113.0"),
        ("gateway.internal", "gateway.internal"),
        ("unknown", "unknown"),
    ],
)
def test_each_address_in_a_value_is_truncated(text: str, truncated: str) -> None:
    assert truncate_addresses_in(text) == truncated


def test_the_transform_leaves_other_attributes_and_spans_alone(builder: SpanBuilder) -> None:
    builder.request("gateway", "/a", token_id=TOKEN, outcome="success", start_ns=10**18)
    builder.span("gateway", "work", kind=SpanKind.INTERNAL, start_ns=10**18, attributes={"k": 1})
    spans = builder.exporter.get_finished_spans()
    decoded = decode_spans(encode_spans(spans).SerializeToString())
    kept = protect_client_addresses(decoded, "keep")
    assert kept is decoded
    truncated = protect_client_addresses(decoded, "truncate")
    assert truncated.spans.schema == decoded.spans.schema
    assert truncated.spans["client_address"].to_pylist() == ["10.0.0.0", None]
    assert truncated.spans["attributes"].to_pylist() == decoded.spans["attributes"].to_pylist()
    assert truncated.resources.equals(decoded.resources)
    dropped = protect_client_addresses(decoded, "drop")
    assert dropped.spans["client_address"].to_pylist() == [None, None]
