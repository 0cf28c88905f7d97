"""OTLP JSON export request bytes → ``ExportTraceServiceRequest``.

Protobuf bodies need no such step: the span decoders read their wire format directly.
OTLP JSON differs from protobuf's canonical JSON mapping in one way that matters: trace
and span ids are hex strings (in any case), where ``json_format`` expects base64. The ids
are rewritten before ``json_format.ParseDict`` does the rest (int64 as string or number,
enums as numbers or names, unknown fields ignored as the OTLP specification requires).

A JSON body must get the answer its protobuf encoding gets, so two things are arranged
before parsing (issue #14):

- An attribute nested deeper than the decoders' protobuf limit (100 messages below the
  KeyValue's, Event's or Resource's root) cannot become protobuf at all, so it becomes a
  placeholder that :func:`encode_request` turns into an invalid KeyValue of the same
  length: the decoders then reject it where they reject the deep protobuf one (that span,
  with "an attribute is not a valid KeyValue" / "an event is not a valid Span.Event", or
  the whole request for a resource's). Links and the scope are not stored: a deep
  attribute there is dropped, as the decoders skip their protobuf bytes.
- A span ``kind`` or status ``code`` given as a name no enum has (which ``json_format``
  would silently take for 0) becomes a number out of range, so that the decoders reject
  the span as they reject ``kind: 99``; ``decoding.decode_body`` words the reason
  (:data:`UNKNOWN_ENUM_NAME`).
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any, Final

import orjson
from google.protobuf import json_format  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tokentrace_backend.ingest.errors import MalformedRequest

_ID_FIELDS: Final = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")
_RESOURCE_SPANS: Final = ("resourceSpans", "resource_spans")
_SCOPE_SPANS: Final = ("scopeSpans", "scope_spans")


# The decoders parse a KeyValue, an Event or a Resource with protobuf's limit of 100
# nested messages below it (measured: an attribute nests 49 arrays or 33 kvlists deep in a
# span, 32 in an event or a resource). ParseDict counts from the request, 5 levels above.
MAX_NESTED_MESSAGES: Final = 100
_PARSE_DEPTH: Final = MAX_NESTED_MESSAGES + 10

UNKNOWN_ENUM: Final = 2**31 - 1
"""The number an unknown ``kind`` or status ``code`` name becomes (no enum has it)."""
UNKNOWN_ENUM_NAME: Final = "name"  # "unknown span kind name", "unknown status code name"
_SPAN_KINDS: Final = frozenset(Span.SpanKind.keys())
_STATUS_CODES: Final = frozenset(Status.StatusCode.keys())


def decode_json_request(body: bytes) -> ExportTraceServiceRequest:
    """Parse an OTLP JSON export request; MalformedRequest with a readable reason if it is
    not one. Deep attributes are placeholders here: :func:`encode_request` makes bytes."""
    return _parse(body, secrets.token_hex(8))


def encode_request(body: bytes) -> bytes:
    """An OTLP JSON export request as the protobuf bytes the span decoders read, with
    every attribute too deep for protobuf made an invalid KeyValue (module docstring)."""
    marker = secrets.token_hex(8)
    encoded: bytes = _parse(body, marker).SerializeToString()
    if marker.encode() not in encoded:
        return encoded
    placeholder = b"\x0a" + bytes([len(marker)]) + marker.encode()
    # Same length, so no enclosing length changes: field 1 claiming 32 bytes of the 16.
    invalid = b"\x0a\x20" + b"\x00" * len(marker)
    return encoded.replace(placeholder, invalid)


def _parse(body: bytes, marker: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise MalformedRequest(f"invalid JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedRequest("the JSON body must be an ExportTraceServiceRequest object")
    _prepare(document, marker)
    try:
        json_format.ParseDict(
            document, request, ignore_unknown_fields=True, max_recursion_depth=_PARSE_DEPTH
        )
    except (json_format.ParseError, TypeError, ValueError, RecursionError) as error:
        raise MalformedRequest(f"invalid OTLP JSON: {_without_values(str(error))}") from None
    return request


# json_format's messages quote the offending value ("invalid literal for int() with base
# 10: 'x'", "Couldn't parse float: x"). The reason goes back to the exporter, which logs
# it, and a value can be a credential sent in the wrong field: so the answer names the
# field path only, never the value.
_FIELD: Final = re.compile(r"Failed to parse (\w+) field")


def _without_values(message: str) -> str:
    path = ".".join(_FIELD.findall(message))
    return f"a value of the wrong type in {path}" if path else "a value of the wrong type"


def _prepare(document: dict[str, Any], marker: str) -> None:
    """Rewrite, in place, the hex ids of spans and links to protobuf's base64, deep
    attributes to placeholders and unknown enum names to :data:`UNKNOWN_ENUM`."""
    for resource_spans in _items(document, _RESOURCE_SPANS):
        if isinstance(resource_spans, dict):
            _limit_depth(resource_spans.get("resource"), 2, marker)
        for scope_spans in _items(resource_spans, _SCOPE_SPANS):
            if isinstance(scope_spans, dict):
                _limit_depth(scope_spans.get("scope"), 2, None)
            for span in _items(scope_spans, ("spans",)):
                _rewrite_ids(span)
                if not isinstance(span, dict):
                    continue
                _limit_depth(span, 1, marker)
                _unknown_enum_name(span, "kind", _SPAN_KINDS)
                _unknown_enum_name(span.get("status"), "code", _STATUS_CODES)
                for event in _items(span, ("events",)):
                    _limit_depth(event, 2, marker)
                for link in _items(span, ("links",)):
                    _rewrite_ids(link)
                    _limit_depth(link, 2, None)


def _unknown_enum_name(message: Any, key: str, names: frozenset[str]) -> None:
    if not isinstance(message, dict):
        return
    value = message.get(key)
    if isinstance(value, str) and value not in names:
        try:
            int(value)  # a number in a string: json_format takes it, like protobuf
        except ValueError:
            message[key] = UNKNOWN_ENUM


def _limit_depth(message: Any, value_depth: int, marker: str | None) -> None:
    """Each of ``message``'s attributes whose values nest more than MAX_NESTED_MESSAGES
    below ``message`` (its AnyValue being ``value_depth`` below) becomes the placeholder
    KeyValue ``marker``, or is dropped without one."""
    attributes = _items(message, ("attributes",))
    for index, attribute in enumerate(attributes):
        if not isinstance(attribute, dict):
            continue
        value = attribute.get("value")
        if _deepest(value, value_depth) <= MAX_NESTED_MESSAGES:
            continue
        attributes[index] = None if marker is None else {"key": marker}
    if marker is None and None in attributes:
        attributes[:] = [attribute for attribute in attributes if attribute is not None]


_ARRAY_KEYS: Final = ("arrayValue", "array_value")
_KVLIST_KEYS: Final = ("kvlistValue", "kvlist_value")


def _deepest(value: Any, depth: int) -> int:
    """How many messages below the root the deepest part of the AnyValue ``value`` (at
    ``depth``) reaches: an array adds 2 (ArrayValue, AnyValue), a kvlist 3 (KeyValueList,
    KeyValue, AnyValue). Iterative: the JSON may nest as deep as orjson allows."""
    deepest = depth
    pending = [(value, depth)]
    while pending:
        current, level = pending.pop()
        deepest = max(deepest, level)
        if deepest > MAX_NESTED_MESSAGES:
            return deepest
        if not isinstance(current, dict):
            continue
        for key in _ARRAY_KEYS:
            for item in _items(current.get(key), ("values",)):
                pending.append((item, level + 2))
        for key in _KVLIST_KEYS:
            for item in _items(current.get(key), ("values",)):
                if isinstance(item, dict):
                    pending.append((item.get("value"), level + 3))
    return deepest


def _items(parent: Any, keys: tuple[str, ...]) -> list[Any]:
    if not isinstance(parent, dict):
        return []
    for key in keys:
        value = parent.get(key)
        if isinstance(value, list):
            return value
    return []


def _rewrite_ids(message: Any) -> None:
    if not isinstance(message, dict):
        return
    for key in _ID_FIELDS:
        value = message.get(key)
        if isinstance(value, str):
            message[key] = _hex_to_base64(value)


def _hex_to_base64(value: str) -> str:
    """Hex id → base64; a value that is not hex becomes empty, so that span is rejected
    for its id length (partial success) instead of failing the whole request."""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    return base64.b64encode(raw).decode("ascii")
