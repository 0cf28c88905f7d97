"""Small builders of OTLP protobuf export requests for the ingest tests."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

AttributeValue = str | int | bool | float


def key_value(key: str, value: AttributeValue) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def make_span(
    *,
    name: str = "GET /orders",
    trace_id: bytes | None = None,
    span_id: bytes | None = None,
    parent_span_id: bytes = b"",
    kind: int = Span.SPAN_KIND_SERVER,
    attributes: dict[str, AttributeValue] | None = None,
) -> Span:
    start = time.time_ns()
    return Span(
        trace_id=trace_id if trace_id is not None else os.urandom(16),
        span_id=span_id if span_id is not None else os.urandom(8),
        parent_span_id=parent_span_id,
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=start,
        end_time_unix_nano=start + 1_500_000,
        attributes=[key_value(key, value) for key, value in (attributes or {}).items()],
    )


def make_request(spans: Sequence[Span], service: str = "orders") -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[key_value("service.name", service)]),
                scope_spans=[ScopeSpans(spans=list(spans))],
            )
        ]
    )


def numbered_request(batch: int, size: int, service: str = "crash-test") -> bytes:
    """`size` spans whose span ids encode (batch, index), so each can be found again."""
    spans = [
        make_span(
            name=f"batch {batch}",
            span_id=((batch << 20) | index | (1 << 62)).to_bytes(8, "big"),
            attributes={"tokentrace.token.id": f"{batch:032x}"},
        )
        for index in range(size)
    ]
    return make_request(spans, service).SerializeToString()


def span_id_of(batch: int, index: int) -> int:
    return (batch << 20) | index | (1 << 62)
