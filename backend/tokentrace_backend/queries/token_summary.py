"""``token_summary``: outcomes, routes, clients, services, latency and lifecycle of a token."""

from __future__ import annotations

from typing import Any

import duckdb

from tokentrace_backend.storage.sql import load_sql, run

from .filters import QueryFilters
from .results import (
    ClientStats,
    Latency,
    LifecycleEvent,
    OutcomeCount,
    RouteStats,
    ServiceStats,
    TokenSummary,
)
from .timestamps import datetime_from_ns, optional_datetime_from_ns
from .tokens import KnownToken

# Lifecycle events after which further use of the token is suspicious.
_RETIRING_EVENTS = frozenset({"rotated", "revoked"})
_US_PER_MS = 1_000


def token_summary(
    cursor: duckdb.DuckDBPyConnection, token: KnownToken, filters: QueryFilters
) -> TokenSummary:
    """The token's summary over the window (lifecycle and rotation check: all time)."""
    parameters: dict[str, Any] = {
        **filters.parameters(),
        "token_id": token.token_id,
        "token_number": token.number,
    }
    row = run(cursor, load_sql("queries/token_summary"), parameters).fetchone()
    assert row is not None  # an aggregate-only SELECT always returns one row
    (
        first_seen_ns,
        last_seen_ns,
        requests,
        outcomes,
        routes,
        clients,
        services,
        latency_us,
        max_us,
        lifecycle,
        last_request_ns,
    ) = row
    return TokenSummary(
        token_id=token.token_id,
        key_ids=[token.key_id] if token.key_id else [],
        owner=token.owner,
        name=token.name,
        since=datetime_from_ns(filters.window.since_ns),
        until=datetime_from_ns(filters.window.until_ns),
        first_seen=optional_datetime_from_ns(first_seen_ns),
        last_seen=optional_datetime_from_ns(last_seen_ns),
        requests=requests,
        outcomes=[OutcomeCount(**outcome) for outcome in outcomes or []],
        routes=[_route(route) for route in routes or []],
        clients=[_client(client) for client in clients or []],
        services=[ServiceStats(**service) for service in services or []],
        latency=Latency(
            p50_ms=_ms(latency_us[0]) if latency_us else None,
            p95_ms=_ms(latency_us[1]) if latency_us else None,
            p99_ms=_ms(latency_us[2]) if latency_us else None,
            max_ms=_ms(max_us),
        ),
        lifecycle=[_lifecycle_event(event) for event in lifecycle or []],
        rotated_still_used=_used_after_retirement(lifecycle or [], last_request_ns),
    )


def _ms(duration_us: float | None) -> float | None:
    return None if duration_us is None else round(duration_us / _US_PER_MS, 3)


def _route(route: dict[str, Any]) -> RouteStats:
    return RouteStats(
        service=route["service"],
        method=route["method"],
        route=route["route"],
        requests=route["requests"],
        errors=route["errors"],
        denied=route["denied"],
        p95_ms=_ms(route["p95_us"]),
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
        at=datetime_from_ns(event["at_ns"]),
        role=event["role"],
        token_id=event["token_id"],
        new_token_id=event["new_token_id"],
        actor=event["actor"],
        trace_id=bytes(event["trace_id"]).hex(),
    )


def _used_after_retirement(lifecycle: list[dict[str, Any]], last_request_ns: int | None) -> bool:
    """True when the token made a request after it was rotated away or revoked."""
    retired_at = [
        event["at_ns"]
        for event in lifecycle
        if event["role"] == "token" and event["event"] in _RETIRING_EVENTS
    ]
    return bool(retired_at) and last_request_ns is not None and last_request_ns > min(retired_at)
