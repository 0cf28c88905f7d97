"""``trace_detail``: every span of one trace, each with the token it belongs to."""

from __future__ import annotations

import json
from typing import Any

import duckdb

from tokentrace_backend.derived import linked_spans_sql
from tokentrace_backend.storage.sql import load_sql, run

from .results import TraceDetail, TraceSpan
from .timestamps import datetime_from_ns, ms_from_ns

SPAN_KINDS = {
    0: "unspecified",
    1: "internal",
    2: "server",
    3: "client",
    4: "producer",
    5: "consumer",
}
STATUS_CODES = {0: "unset", 1: "ok", 2: "error"}


_TRACE_SPANS = linked_spans_sql(
    "trace_spans AS MATERIALIZED (SELECT *, token_id AS known_token_id FROM spans"
    " WHERE trace_id = $trace_id::BLOB)",
    load_sql("queries/trace_spans"),
)


def jaeger_trace_url(jaeger_url: str | None, trace_id: str) -> str | None:
    """``{jaeger_url}/trace/{trace_id}``, or None when no Jaeger UI is configured."""
    if not jaeger_url:
        return None
    return f"{jaeger_url.rstrip('/')}/trace/{trace_id}"


def trace_detail(
    cursor: duckdb.DuckDBPyConnection, trace_id: str, *, jaeger_url: str | None = None
) -> TraceDetail | None:
    """The trace's spans in start order, or None when no span of it is stored."""
    parameters = {"trace_id": bytes.fromhex(trace_id)}
    rows = run(cursor, _TRACE_SPANS, parameters).fetchall()
    if not rows:
        return None
    spans = [_span(row) for row in rows]
    tokens = sorted({span.linked_token_id for span in spans if span.linked_token_id})
    return TraceDetail(
        trace_id=trace_id,
        jaeger_url=jaeger_trace_url(jaeger_url, trace_id),
        tokens=tokens,
        spans=spans,
    )


def _span(row: tuple[Any, ...]) -> TraceSpan:
    (
        trace_id,
        span_id,
        parent_span_id,
        service,
        service_version,
        name,
        kind,
        start_ns,
        duration_ns,
        status_code,
        status_message,
        http_method,
        http_route,
        http_status,
        url_path,
        client_address,
        user_agent,
        peer_service,
        db_system,
        server_address,
        messaging_system,
        token_id,
        linked_token_id,
        auth_outcome,
        error_type,
        error_message,
        attributes,
        events,
    ) = row
    return TraceSpan(
        trace_id=bytes(trace_id).hex(),
        span_id=f"{span_id:016x}",
        parent_span_id=None if parent_span_id is None else f"{parent_span_id:016x}",
        service=service,
        service_version=service_version,
        name=name,
        kind=SPAN_KINDS.get(kind, str(kind)),
        start=datetime_from_ns(start_ns),
        duration_ms=ms_from_ns(duration_ns) or 0.0,
        status=STATUS_CODES.get(status_code, str(status_code)),
        status_message=status_message,
        http_method=http_method,
        http_route=http_route,
        http_status=http_status,
        url_path=url_path,
        client_address=client_address,
        user_agent=user_agent,
        peer_service=peer_service,
        db_system=db_system,
        server_address=server_address,
        messaging_system=messaging_system,
        token_id=token_id,
        linked_token_id=linked_token_id,
        auth_outcome=auth_outcome,
        error_type=error_type,
        error_message=error_message,
        attributes=None if attributes is None else json.loads(attributes),
        events=None if events is None else json.loads(events),
    )
