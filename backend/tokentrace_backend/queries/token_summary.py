"""``token_summary``: outcomes, routes, clients, services, latency and lifecycle of a token."""

from __future__ import annotations

from typing import Any

import duckdb

from .filters import QueryFilters
from .linking import link_window, linked_spans_sql
from .results import (
    ClientStats,
    Latency,
    LifecycleEvent,
    OutcomeCount,
    RouteStats,
    ServiceStats,
    TokenSummary,
)
from .sql_files import load_sql, run
from .timestamps import datetime_from_ns, ms_from_ns, optional_datetime_from_ns

# Lifecycle events after which further use of the token is suspicious.
_RETIRING_EVENTS = frozenset({"rotated", "revoked"})


def token_summary(
    cursor: duckdb.DuckDBPyConnection, token_id: str, filters: QueryFilters
) -> TokenSummary | None:
    """The token's summary, or None when no span ever carried this token id."""
    parameters: dict[str, Any] = {**filters.parameters(), "token_id": token_id}
    row = run(cursor, load_sql("token_summary"), parameters).fetchone()
    assert row is not None  # an aggregate-only SELECT always returns one row
    (
        spans_all_time,
        key_ids,
        owner,
        token_name,
        first_seen_ns,
        last_seen_ns,
        requests,
        outcomes,
        routes,
        clients,
        latency_ns,
        max_ns,
        lifecycle,
        last_request_ns,
    ) = row
    if spans_all_time == 0:
        return None
    lifecycle_events = [_lifecycle_event(event) for event in lifecycle or []]
    return TokenSummary(
        token_id=token_id,
        key_ids=key_ids or [],
        owner=owner,
        name=token_name,
        since=datetime_from_ns(filters.window.since_ns),
        until=datetime_from_ns(filters.window.until_ns),
        first_seen=optional_datetime_from_ns(first_seen_ns),
        last_seen=optional_datetime_from_ns(last_seen_ns),
        requests=requests,
        outcomes=[OutcomeCount(**outcome) for outcome in outcomes or []],
        routes=[_route(route) for route in routes or []],
        clients=[_client(client) for client in clients or []],
        services=_linked_services(cursor, parameters, filters),
        latency=Latency(
            p50_ms=ms_from_ns(latency_ns[0]) if latency_ns else None,
            p95_ms=ms_from_ns(latency_ns[1]) if latency_ns else None,
            p99_ms=ms_from_ns(latency_ns[2]) if latency_ns else None,
            max_ms=ms_from_ns(max_ns),
        ),
        lifecycle=lifecycle_events,
        rotated_still_used=_used_after_retirement(lifecycle or [], last_request_ns),
    )


def _linked_services(
    cursor: duckdb.DuckDBPyConnection, parameters: dict[str, Any], filters: QueryFilters
) -> list[ServiceStats]:
    window = filters.window
    sql = linked_spans_sql("token_traces", "token_services")
    rows = run(cursor, sql, {**parameters, **link_window(window.since_ns, window.until_ns)})
    return [
        ServiceStats(service=service, spans=spans, errors=errors)
        for service, spans, errors in rows.fetchall()
    ]


def _route(route: dict[str, Any]) -> RouteStats:
    return RouteStats(
        service=route["service"],
        method=route["method"],
        route=route["route"],
        requests=route["requests"],
        errors=route["errors"],
        denied=route["denied"],
        p95_ms=ms_from_ns(route["p95_ns"]),
    )


def _client(client: dict[str, Any]) -> ClientStats:
    return ClientStats(
        address=client["address"],
        user_agent=client["user_agent"],
        requests=client["requests"],
        first_seen=datetime_from_ns(client["first_ns"]),
        last_seen=datetime_from_ns(client["last_ns"]),
    )


def _lifecycle_event(event: dict[str, Any]) -> LifecycleEvent:
    return LifecycleEvent(
        event=event["event"] or "unknown",
        at=datetime_from_ns(event["start_ns"]),
        role=event["role"],
        token_id=event["token_id"],
        new_token_id=event["new_token_id"],
        actor=event["actor"],
        trace_id=bytes(event["trace_id"]).hex(),
    )


def _used_after_retirement(lifecycle: list[dict[str, Any]], last_request_ns: int | None) -> bool:
    """True when the token made a request after it was rotated away or revoked."""
    retired_at = [
        event["start_ns"]
        for event in lifecycle
        if event["role"] == "token" and event["event"] in _RETIRING_EVENTS
    ]
    return bool(retired_at) and last_request_ns is not None and last_request_ns > min(retired_at)
