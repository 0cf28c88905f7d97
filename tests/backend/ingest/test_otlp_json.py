"""Hand-made OTLP JSON with the encoding quirks the specification allows."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable

import httpx

from tests.backend.ingest.serve_process import ServeProcess

TRACE_ID = "5B8EFFF798038103D269B633813FC60C"  # upper case hex is valid OTLP JSON
PARENT_ID = "EEE19B7EC3C1B174"
CHILD_ID = "eee19b7ec3c1b173"


def _document() -> dict[str, object]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "orders"}},
                        {"key": "service.version", "value": {"stringValue": "0.9"}},
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "hand-made"},
                        "spans": [
                            {
                                "traceId": TRACE_ID,
                                "spanId": PARENT_ID,
                                "name": "POST /orders",
                                "kind": 2,  # enum as a number
                                "startTimeUnixNano": "1700000000000000000",  # int64 as string
                                "endTimeUnixNano": 1700000000250000000,  # ... or as a number
                                "attributes": [
                                    {"key": "http.method", "value": {"stringValue": "POST"}},
                                    {"key": "http.status_code", "value": {"intValue": "503"}},
                                    {
                                        "key": "http.target",
                                        "value": {"stringValue": "/orders?page=2"},
                                    },
                                    {"key": "net.peer.ip", "value": {"stringValue": "192.0.2.4"}},
                                    {"key": "http.user_agent", "value": {"stringValue": "ua/1"}},
                                    {"key": "retries", "value": {"intValue": 3}},
                                    {"key": "ratio", "value": {"doubleValue": 0.5}},
                                    {
                                        "key": "tags",
                                        "value": {
                                            "arrayValue": {
                                                "values": [
                                                    {"stringValue": "a"},
                                                    {"boolValue": True},
                                                ]
                                            }
                                        },
                                    },
                                ],
                                "status": {"code": 2, "message": "upstream down"},
                                "someFutureField": {"ignored": True},
                            },
                            {
                                "traceId": TRACE_ID.lower(),
                                "spanId": CHILD_ID,
                                "parentSpanId": PARENT_ID,
                                "name": "publish",
                                "kind": "SPAN_KIND_PRODUCER",  # enum as its name
                                "startTimeUnixNano": "1700000000100000000",
                                "endTimeUnixNano": "1700000000200000000",
                                "attributes": [
                                    {"key": "messaging.system", "value": {"stringValue": "kafka"}},
                                    {"key": "error.type", "value": {"stringValue": "Timeout"}},
                                ],
                            },
                            {
                                "traceId": TRACE_ID,
                                "spanId": "abcd",  # 2 bytes: rejected, the others are kept
                                "name": "bad id",
                                "startTimeUnixNano": "1700000000100000000",
                                "endTimeUnixNano": "1700000000200000000",
                            },
                        ],
                    }
                ],
            }
        ]
    }


def test_json_quirks_are_decoded_and_bad_spans_partially_rejected(
    start_server: Callable[..., ServeProcess],
) -> None:
    server = start_server()
    response = httpx.post(
        server.traces_url,
        content=json.dumps(_document()).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"  # int64 in protobuf JSON
    assert "span_id must be 8 bytes, got 2" in partial["errorMessage"]
    assert server.stop() == 0

    rows = server.query(
        "SELECT hex(trace_id), span_id, parent_span_id, name, kind, start_ns, duration_ns,"
        " status_code, status_message, http_method, http_status, url_path, client_address,"
        " user_agent, messaging_system, error_type, attributes, service_version"
        " FROM spans ORDER BY start_ns"
    )
    assert len(rows) == 2
    parent, child = rows
    assert parent[:16] == (
        TRACE_ID, int(PARENT_ID, 16), None, "POST /orders", 2, 1700000000000000000,
        250_000_000, 2, "upstream down", "POST", 503, "/orders", "192.0.2.4", "ua/1",
        None, None,
    )  # fmt: skip
    assert json.loads(str(parent[16])) == {"retries": 3, "ratio": 0.5, "tags": ["a", True]}
    assert parent[17] == "0.9"
    assert child[:3] == (TRACE_ID, int(CHILD_ID, 16), int(PARENT_ID, 16))
    assert child[4] == 4
    assert child[14:16] == ("kafka", "Timeout")


def test_gzip_json_is_accepted(start_server: Callable[..., ServeProcess]) -> None:
    server = start_server()
    body = gzip.compress(json.dumps(_document()).encode())
    response = httpx.post(
        server.traces_url,
        content=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    assert server.stop() == 0
    assert server.query("SELECT count(*) FROM spans") == [(2,)]


def test_empty_request_is_acknowledged(start_server: Callable[..., ServeProcess]) -> None:
    server = start_server()
    response = httpx.post(
        server.traces_url, content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json() == {}
