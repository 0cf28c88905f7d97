"""OTLP JSON export request bytes → ``ExportTraceServiceRequest``.

Protobuf bodies need no such step: the span decoders read their wire format directly.
OTLP JSON differs from protobuf's canonical JSON mapping in one way that matters: trace
and span ids are hex strings (in any case), where ``json_format`` expects base64. The ids
are rewritten before ``json_format.ParseDict`` does the rest (int64 as string or number,
enums as numbers or names, unknown fields ignored as the OTLP specification requires).
"""

from __future__ import annotations

import base64
import re
from typing import Any, Final

import orjson
from google.protobuf import json_format  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tokentrace_backend.ingest.errors import MalformedRequest

_ID_FIELDS: Final = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")
_RESOURCE_SPANS: Final = ("resourceSpans", "resource_spans")
_SCOPE_SPANS: Final = ("scopeSpans", "scope_spans")


def decode_json_request(body: bytes) -> ExportTraceServiceRequest:
    """Parse an OTLP JSON export request; MalformedRequest with a readable reason if it is
    not one."""
    request = ExportTraceServiceRequest()
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise MalformedRequest(f"invalid JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedRequest("the JSON body must be an ExportTraceServiceRequest object")
    _hex_ids_to_base64(document)
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as error:
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


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    """Rewrite the hex ids of spans and their links, in place, to protobuf's base64."""
    for resource_spans in _items(document, _RESOURCE_SPANS):
        for scope_spans in _items(resource_spans, _SCOPE_SPANS):
            for span in _items(scope_spans, ("spans",)):
                _rewrite_ids(span)
                for link in _items(span, ("links",)):
                    _rewrite_ids(link)


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
