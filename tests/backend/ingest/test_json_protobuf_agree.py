"""Differential tests between the two encodings (issue #14, item 6): the same request sent
as OTLP JSON and as protobuf gets the same answer from either decoder: the same rows, the
same rejected spans with the same reason, or 400 for both. Covered: attributes nested
around protobuf's recursion limit (in a span, an event, a resource, a link, the scope)
and span kinds and status codes that no enum has."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.backend.ingest.test_decoder_equivalence import REALISTIC_NS, _field
from tokentrace_backend.ingest.decoding import SpansDecoder, decode_body
from tokentrace_backend.ingest.errors import MalformedRequest
from tokentrace_backend.ingest.protocol import Encoding
from tokentrace_backend.storage.span_rows import DecodedSpans

TRACE = bytes(range(1, 17))


def span_id(number: int) -> bytes:
    return bytes([0, 0, 0, 0, 0, 0, 1, number])


# --- the same values as JSON and as protobuf ------------------------------------------------


def nested_json(depth: int, via: str) -> dict[str, Any]:
    value: dict[str, Any] = {"stringValue": "x"}
    for level in range(depth):
        if via == "array" or (via == "mixed" and level % 2):
            value = {"arrayValue": {"values": [value]}}
        else:
            value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


def nested_protobuf(depth: int, via: str) -> bytes:
    value = _field(1, b"x")
    for level in range(depth):
        if via == "array" or (via == "mixed" and level % 2):
            value = _field(5, _field(1, value))
        else:
            value = _field(6, _field(1, _field(1, b"k") + _field(2, value)))
    return value


def plain_span(number: int, kind: int = 0) -> bytes:
    return Span(
        trace_id=TRACE,
        span_id=span_id(number),
        name=f"span {number}",
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=REALISTIC_NS,
        end_time_unix_nano=REALISTIC_NS + 1,
    ).SerializeToString()


def plain_span_json(number: int) -> dict[str, Any]:
    return {
        "traceId": TRACE.hex(),
        "spanId": span_id(number).hex(),
        "name": f"span {number}",
        "startTimeUnixNano": str(REALISTIC_NS),
        "endTimeUnixNano": str(REALISTIC_NS + 1),
    }


def request_pair(where: str, depth: int, via: str) -> tuple[bytes, bytes]:
    """(protobuf, JSON) of one request: three spans, the middle one carrying a ``depth``
    deep attribute ``where`` (span, event, link, resource or scope)."""
    attribute = _field(1, b"deep") + _field(2, nested_protobuf(depth, via))
    attribute_json = {"key": "deep", "value": nested_json(depth, via)}
    middle, middle_json = plain_span(1), plain_span_json(1)
    resource, resource_json = b"", {}
    scope, scope_json = b"", {}
    if where == "span":
        middle += _field(9, attribute)
        middle_json["attributes"] = [attribute_json]
    elif where == "event":
        middle += _field(11, _field(2, b"exception") + _field(3, attribute))
        middle_json["events"] = [{"name": "exception", "attributes": [attribute_json]}]
    elif where == "link":
        link = _field(1, TRACE) + _field(2, span_id(9)) + _field(4, attribute)
        middle += _field(13, link)
        link_json = {"traceId": TRACE.hex(), "spanId": span_id(9).hex()}
        middle_json["links"] = [{**link_json, "attributes": [attribute_json]}]
    elif where == "resource":
        resource = _field(1, _field(1, attribute))
        resource_json = {"resource": {"attributes": [attribute_json]}}
    elif where == "scope":
        scope = _field(1, _field(1, b"lib") + _field(3, attribute))
        scope_json = {"scope": {"name": "lib", "attributes": [attribute_json]}}
    spans = [plain_span(0), middle, plain_span(2)]
    protobuf = _field(1, resource + _field(2, scope + b"".join(_field(2, s) for s in spans)))
    spans_json = [plain_span_json(0), middle_json, plain_span_json(2)]
    document = {
        "resourceSpans": [{**resource_json, "scopeSpans": [{**scope_json, "spans": spans_json}]}]
    }
    return protobuf, json.dumps(document).encode()


# --- comparing --------------------------------------------------------------------------------


def outcome(body: bytes, encoding: Encoding, decoder: SpansDecoder) -> DecodedSpans | None:
    try:
        return decode_body(body, encoding, decoder)
    except MalformedRequest:
        return None


def assert_same_answer(
    protobuf: bytes, as_json: bytes, decoder: SpansDecoder
) -> DecodedSpans | None:
    from_protobuf = outcome(protobuf, Encoding.PROTOBUF, decoder)
    from_json = outcome(as_json, Encoding.JSON, decoder)
    if from_protobuf is None or from_json is None:
        assert from_protobuf is None and from_json is None, (from_protobuf, from_json)
        return None
    assert (from_json.rejected_spans, from_json.error_message) == (
        from_protobuf.rejected_spans,
        from_protobuf.error_message,
    )
    assert from_json.spans.equals(from_protobuf.spans)
    return from_protobuf


DEPTHS = (*range(30, 36), *range(47, 52), 200)


@pytest.mark.parametrize("via", ["array", "kvlist", "mixed"])
@pytest.mark.parametrize("where", ["span", "event", "link", "resource", "scope"])
def test_deep_attributes_get_the_same_answer(
    spans_decoder: SpansDecoder, where: str, via: str
) -> None:
    answers = set()
    for depth in DEPTHS:
        protobuf, as_json = request_pair(where, depth, via)
        decoded = assert_same_answer(protobuf, as_json, spans_decoder)
        answers.add("400" if decoded is None else (decoded.accepted_spans, decoded.error_message))
    deep = request_pair(where, 200, via)
    decoded = outcome(deep[1], Encoding.JSON, spans_decoder)
    if where in ("span", "event"):  # only that span is rejected
        assert decoded is not None and decoded.accepted_spans == 2
        assert decoded.error_message.startswith("span #1: an ")
    elif where == "resource":  # the request, as for protobuf
        assert decoded is None
    else:  # not stored: accepted
        assert decoded is not None and decoded.accepted_spans == 3
    assert len(answers) >= (1 if where in ("link", "scope") else 2)  # the limit was crossed


def with_middle(value: dict[str, Any]) -> bytes:
    spans = [plain_span_json(0), {**plain_span_json(1), **value}, plain_span_json(2)]
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()


@pytest.mark.parametrize(
    ("middle", "reason"),
    [
        ({"kind": "SPAN_KIND_BOGUS"}, "unknown span kind name"),
        ({"kind": "span_kind_server"}, "unknown span kind name"),  # names are exact
        ({"kind": 99}, "unknown span kind 99"),
        ({"kind": "99"}, "unknown span kind 99"),
        ({"status": {"code": "STATUS_CODE_MAYBE"}}, "unknown status code name"),
        ({"status": {"code": 7}}, "unknown status code 7"),
    ],
)
def test_unknown_kinds_and_codes_are_rejected_like_protobuf(
    spans_decoder: SpansDecoder, middle: dict[str, Any], reason: str
) -> None:
    decoded = decode_body(with_middle(middle), Encoding.JSON, spans_decoder)
    assert (decoded.accepted_spans, decoded.rejected_spans) == (2, 1)
    assert decoded.error_message == f"span #1: {reason}"
    assert "BOGUS" not in decoded.error_message


def test_a_numbered_kind_gets_the_protobuf_answer(spans_decoder: SpansDecoder) -> None:
    spans = [plain_span(0), plain_span(1, kind=99), plain_span(2)]
    protobuf = _field(1, _field(2, b"".join(_field(2, s) for s in spans)))
    assert_same_answer(protobuf, with_middle({"kind": 99}), spans_decoder)
    known = [plain_span(0), plain_span(1, kind=2), plain_span(2)]
    protobuf = _field(1, _field(2, b"".join(_field(2, s) for s in known)))
    decoded = assert_same_answer(protobuf, with_middle({"kind": "SPAN_KIND_SERVER"}), spans_decoder)
    assert decoded is not None and decoded.rejected_spans == 0
