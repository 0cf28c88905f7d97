"""The span decoders in process (Python and native, each test runs with both): promotion
rules, value types, rejections."""

from __future__ import annotations

import json
import os

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.backend.ingest.otlp_builders import key_value, make_request, make_span
from tokentrace.attributes import REDACTED_HEADER
from tokentrace_backend.ingest.decoding import SpansDecoder
from tokentrace_backend.ingest.errors import MalformedSpans
from tokentrace_backend.ingest.wire_view import ExportRequestView


def _rows(decode: SpansDecoder, *spans: Span) -> list[dict[str, object]]:
    decoded = decode(make_request(list(spans)).SerializeToString())
    assert decoded.rejected_spans == 0, decoded.error_message
    rows: list[dict[str, object]] = decoded.spans.to_pylist()
    return rows


def test_stable_names_win_over_old_ones_in_any_order(spans_decoder: SpansDecoder) -> None:
    old_first = make_span(
        attributes={"http.method": "OLD", "http.request.method": "GET", "net.peer.name": "a"}
    )
    stable_first = make_span(
        attributes={"http.request.method": "PUT", "http.method": "OLD", "server.address": "b"}
    )
    old_only = make_span(attributes={"http.method": "POST", "http.status_code": "404"})
    first, second, third = _rows(spans_decoder, old_first, stable_first, old_only)
    assert (first["http_method"], first["server_address"]) == ("GET", "a")
    assert (second["http_method"], second["server_address"]) == ("PUT", "b")
    assert (third["http_method"], third["http_status"]) == ("POST", 404)  # "404" coerced
    assert first["attributes"] is None  # promoted names are not repeated in the JSON


def test_http_target_keeps_only_the_path(spans_decoder: SpansDecoder) -> None:
    (row,) = _rows(
        spans_decoder, make_span(attributes={"http.target": "/search?api_key=secret&q=1"})
    )
    assert row["url_path"] == "/search"
    assert "secret" not in json.dumps(row, default=str)


def test_unpromoted_values_keep_their_types_in_the_json(spans_decoder: SpansDecoder) -> None:
    span = make_span(attributes={"plain": "text", "count": 3, "ratio": 0.25, "ok": True})
    span.attributes.extend(
        [
            KeyValue(
                key="list",
                value=AnyValue(
                    array_value=ArrayValue(
                        values=[AnyValue(int_value=1), AnyValue(string_value="x")]
                    )
                ),
            ),
            KeyValue(
                key="map",
                value=AnyValue(kvlist_value=KeyValueList(values=[key_value("inner", "v")])),
            ),
            KeyValue(key="raw", value=AnyValue(bytes_value=b"\x00\xff")),
            KeyValue(key="empty", value=AnyValue()),
        ]
    )
    (row,) = _rows(spans_decoder, span)
    assert json.loads(str(row["attributes"])) == {
        "plain": "text",
        "count": 3,
        "ratio": 0.25,
        "ok": True,
        "list": [1, "x"],
        "map": {"inner": "v"},
        "raw": "AP8=",
        "empty": None,
    }


def test_same_key_with_different_types_is_not_confused_by_the_cache(
    spans_decoder: SpansDecoder,
) -> None:
    rows = _rows(
        spans_decoder,
        make_span(attributes={"http.response.status_code": 200, "shared": "a"}),
        make_span(attributes={"http.response.status_code": "503", "shared": 7}),
        make_span(attributes={"http.response.status_code": 70000, "shared": "a"}),
    )
    assert [row["http_status"] for row in rows] == [200, 503, None]  # 70000 does not fit
    assert [json.loads(str(row["attributes"]))["shared"] for row in rows] == ["a", 7, "a"]


def test_first_exception_event_fills_the_error_columns(spans_decoder: SpansDecoder) -> None:
    span = make_span(attributes={"error.type": "Timeout"})
    for kind, message in (("ValueError", "first"), ("KeyError", "second")):
        span.events.add(
            name="exception",
            time_unix_nano=span.start_time_unix_nano,
            attributes=[key_value("exception.type", kind), key_value("exception.message", message)],
        )
    only_error_type = make_span(attributes={"error.type": "Timeout"})
    row, other = _rows(spans_decoder, span, only_error_type)
    assert (row["error_type"], row["error_message"]) == ("ValueError", "first")
    assert len(json.loads(str(row["events"]))) == 2
    assert (other["error_type"], other["error_message"], other["events"]) == ("Timeout", None, None)


def test_a_span_with_an_undecodable_attribute_is_rejected_alone(
    spans_decoder: SpansDecoder,
) -> None:
    # The wire view lets the test put bytes on the wire that are no KeyValue at all.
    request = ExportRequestView()
    spans = request.resource_spans.add().scope_spans.add().spans
    for name, attribute in (("good", key_value("k", "v").SerializeToString()), ("bad", b"\xff")):
        spans.add(
            trace_id=os.urandom(16),
            span_id=os.urandom(8),
            name=name,
            start_time_unix_nano=1,
            end_time_unix_nano=2,
            attributes=[attribute],
        )
    decoded = spans_decoder(request.SerializeToString())
    assert decoded.rejected_spans == 1
    assert "not a valid KeyValue" in decoded.error_message
    assert decoded.spans.column("name").to_pylist() == ["good"]


def test_end_before_start_is_rejected(spans_decoder: SpansDecoder) -> None:
    bad = make_span(name="bad")
    bad.end_time_unix_nano = bad.start_time_unix_nano - 1
    decoded = spans_decoder(make_request([make_span(name="good"), bad]).SerializeToString())
    assert decoded.rejected_spans == 1
    assert "before start" in decoded.error_message
    assert decoded.spans.column("name").to_pylist() == ["good"]


def test_a_status_code_outside_the_enum_is_rejected(spans_decoder: SpansDecoder) -> None:
    # proto3 enums accept any int32 on the wire, negative ones included.
    bad = make_span(name="bad")
    bad.status.code = -1  # type: ignore[assignment]
    decoded = spans_decoder(make_request([make_span(name="good"), bad]).SerializeToString())
    assert decoded.rejected_spans == 1
    assert "unknown status code -1" in decoded.error_message
    assert decoded.spans.column("name").to_pylist() == ["good"]


def test_resources_are_deduplicated_by_content(spans_decoder: SpansDecoder) -> None:
    request = make_request([make_span()], service="a")
    request.resource_spans.extend(make_request([make_span()], service="a").resource_spans)
    request.resource_spans.extend(make_request([make_span()], service="b").resource_spans)
    decoded = spans_decoder(request.SerializeToString())
    assert decoded.accepted_spans == 3
    assert sorted(decoded.resources.column("service_name").to_pylist()) == ["a", "b"]
    ids = decoded.spans.column("resource_id").to_pylist()
    assert ids[0] == ids[1] != ids[2]


def test_credential_headers_are_redacted_at_every_depth(spans_decoder: SpansDecoder) -> None:
    secret = "Bearer tt_live_do_not_store"
    span = make_span(attributes={"http.request.header.authorization": secret})
    span.attributes.append(
        KeyValue(
            key="captured",
            value=AnyValue(
                kvlist_value=KeyValueList(values=[key_value("HTTP.Request.Header.Cookie", secret)])
            ),
        )
    )
    span.events.add(
        name="retry",
        time_unix_nano=span.start_time_unix_nano,
        attributes=[key_value("http.request.header.x_api_key", secret)],
    )
    request = make_request([span])
    request.resource_spans[0].resource.attributes.append(
        key_value("http.response.header.set-cookie", secret)
    )
    decoded = spans_decoder(request.SerializeToString())
    assert decoded.accepted_spans == 1
    stored = json.dumps([decoded.spans.to_pylist(), decoded.resources.to_pylist()], default=str)
    assert secret not in stored
    assert stored.count(REDACTED_HEADER) == 4


def test_a_request_that_would_repeat_huge_service_names_is_refused(
    spans_decoder: SpansDecoder,
) -> None:
    # 2,000 spans under a 40 KiB service.name: a ~150 KB body, ~80 MB of repeated names.
    request = make_request([make_span() for _ in range(2000)], service="s" * 40_000)
    with pytest.raises(MalformedSpans, match="service names and versions of this request"):
        spans_decoder(request.SerializeToString())
    # The same name over a few spans is fine.
    small = make_request([make_span()], service="s" * 40_000)
    assert spans_decoder(small.SerializeToString()).accepted_spans == 1
