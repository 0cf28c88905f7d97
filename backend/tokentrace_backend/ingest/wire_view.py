"""A wire-compatible *view* of ``ExportTraceServiceRequest`` for the ingest hot path.

The view is an ordinary protobuf message class, built at import time from a descriptor
(exactly what a generated ``_pb2`` module does), whose field numbers and wire types match
``opentelemetry.proto``'s. The difference: a span's attributes, events and status, and a
resource, are declared as ``bytes``. upb then hands them over as raw byte strings instead
of building a Python wrapper object per attribute and per value, which is what dominates
the cost of decoding OTLP in Python. Each *distinct* attribute is decoded once with the
real ``opentelemetry.proto`` ``KeyValue`` class and cached by its bytes; real traffic
repeats the same method, route, token id and user agent over and over.

Fields the backend does not store (trace_state, flags, links, scope, schema_url, dropped
counts) are not declared; protobuf keeps them as unknown fields, untouched.
"""

from __future__ import annotations

from typing import Any, Final

from google.protobuf import (  # type: ignore[import-untyped]
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)

_PACKAGE: Final = "tokentrace.otlp_view"
_FIELD = descriptor_pb2.FieldDescriptorProto


def _add_field(
    message: Any, name: str, number: int, kind: int, *, repeated: bool = False, type_name: str = ""
) -> None:
    field = message.field.add(name=name, number=number, type=kind)
    field.label = _FIELD.LABEL_REPEATED if repeated else _FIELD.LABEL_OPTIONAL
    if type_name:
        field.type_name = f".{_PACKAGE}.{type_name}"


def _build_view_classes() -> tuple[type[Any], type[Any]]:
    file = descriptor_pb2.FileDescriptorProto(
        name="tokentrace/otlp_trace_view.proto", package=_PACKAGE, syntax="proto3"
    )
    # opentelemetry.proto.trace.v1.Span
    span = file.message_type.add(name="SpanView")
    _add_field(span, "trace_id", 1, _FIELD.TYPE_BYTES)
    _add_field(span, "span_id", 2, _FIELD.TYPE_BYTES)
    _add_field(span, "parent_span_id", 4, _FIELD.TYPE_BYTES)
    _add_field(span, "name", 5, _FIELD.TYPE_STRING)
    _add_field(span, "kind", 6, _FIELD.TYPE_INT32)  # an enum on the wire is a varint
    _add_field(span, "start_time_unix_nano", 7, _FIELD.TYPE_FIXED64)
    _add_field(span, "end_time_unix_nano", 8, _FIELD.TYPE_FIXED64)
    _add_field(span, "attributes", 9, _FIELD.TYPE_BYTES, repeated=True)  # KeyValue
    _add_field(span, "events", 11, _FIELD.TYPE_BYTES, repeated=True)  # Span.Event
    _add_field(span, "status", 15, _FIELD.TYPE_BYTES)  # Status
    # opentelemetry.proto.trace.v1.ScopeSpans / ResourceSpans
    scope_spans = file.message_type.add(name="ScopeSpansView")
    _add_field(scope_spans, "spans", 2, _FIELD.TYPE_MESSAGE, repeated=True, type_name="SpanView")
    resource_spans = file.message_type.add(name="ResourceSpansView")
    _add_field(resource_spans, "resource", 1, _FIELD.TYPE_BYTES)  # Resource
    _add_field(
        resource_spans,
        "scope_spans",
        2,
        _FIELD.TYPE_MESSAGE,
        repeated=True,
        type_name="ScopeSpansView",
    )
    # opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest
    request = file.message_type.add(name="ExportRequestView")
    _add_field(
        request,
        "resource_spans",
        1,
        _FIELD.TYPE_MESSAGE,
        repeated=True,
        type_name="ResourceSpansView",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    request_class = message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"{_PACKAGE}.ExportRequestView")
    )
    span_class = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.SpanView"))
    return request_class, span_class


ExportRequestView, SpanView = _build_view_classes()
"""``ExportRequestView.FromString(body)`` parses any ExportTraceServiceRequest body."""
