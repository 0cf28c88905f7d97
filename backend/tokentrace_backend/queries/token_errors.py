"""``token_errors``: the failing spans linked to a token, grouped by service, span, error."""

from __future__ import annotations

from typing import Any

import duckdb

from tokentrace_backend.storage.sql import load_sql, run

from .filters import QueryFilters
from .results import ErrorGroup, ErrorPage
from .timestamps import datetime_from_ns
from .tokens import KnownToken
from .traces import jaeger_trace_url

EXAMPLE_TRACES = 5


def token_errors(
    cursor: duckdb.DuckDBPyConnection,
    token: KnownToken,
    filters: QueryFilters,
    *,
    limit: int,
    offset: int,
    jaeger_url: str | None = None,
) -> ErrorPage:
    """One page of error groups, largest first; ``next_offset`` is None on the last page."""
    parameters: dict[str, Any] = {
        **filters.parameters(),
        "token_number": token.number,
        "limit": limit + 1,
        "offset": offset,
    }
    rows = run(cursor, load_sql("queries/token_errors"), parameters).fetchall()
    return ErrorPage(
        token_id=token.token_id,
        since=datetime_from_ns(filters.window.since_ns),
        until=datetime_from_ns(filters.window.until_ns),
        errors=[_group(row, jaeger_url) for row in rows[:limit]],
        next_offset=offset + limit if len(rows) > limit else None,
    )


def _group(row: tuple[Any, ...], jaeger_url: str | None) -> ErrorGroup:
    service, span_name, error_kind, count, message, first_ns, last_ns, recent = row
    trace_ids = list(dict.fromkeys(bytes(trace_id).hex() for trace_id in recent))
    trace_ids = trace_ids[:EXAMPLE_TRACES]
    links = [jaeger_trace_url(jaeger_url, trace_id) for trace_id in trace_ids]
    return ErrorGroup(
        service=service,
        span_name=span_name,
        error_type=error_kind,
        count=count,
        message=message,
        first_seen=datetime_from_ns(first_ns),
        last_seen=datetime_from_ns(last_ns),
        trace_ids=trace_ids,
        jaeger_urls=[link for link in links if link is not None] if jaeger_url else None,
    )
