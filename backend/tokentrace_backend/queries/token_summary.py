"""``token_summary``: outcomes, routes, clients, services, latency and lifecycle of a token."""

from __future__ import annotations

from typing import Any

import duckdb

from tokentrace_backend.storage.sql import load_sql, run

from .filters import QueryFilters
from .lifecycle import RETIRING_EVENTS, LifecycleThresholds, lifecycle_event, threshold_parameters
from .results import (
    ClientStats,
    Latency,
    OutcomeCount,
    RollupPart,
    RouteStats,
    ServiceStats,
    TokenSummary,
)
from .timestamps import datetime_from_ns, optional_datetime_from_ns
from .tokens import KnownToken

_US_PER_MS = 1_000
_NS_PER_DAY = 86_400 * 1_000_000_000


def token_summary(
    cursor: duckdb.DuckDBPyConnection,
    token: KnownToken,
    filters: QueryFilters,
    *,
    now_ns: int,
    thresholds: LifecycleThresholds,
) -> TokenSummary:
    """The token's summary over the window (lifecycle and rotation check: all time, the
    latter at ``now_ns`` by the lifecycle's rule)."""
    parameters: dict[str, Any] = {
        **filters.parameters(),
        "token_id": token.token_id,
        "token_number": token.number,
        "retiring_events": list(RETIRING_EVENTS),
        "now_ns": now_ns,
        **threshold_parameters(thresholds),
    }
    from_rollups = _rollup_part(cursor, filters)
    sql = load_sql("queries/token_summary_rollups" if from_rollups else "queries/token_summary")
    row = run(cursor, sql, parameters).fetchone()
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
        rotated_still_used,
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
        lifecycle=[lifecycle_event(event) for event in lifecycle or []],
        rotated_still_used=rotated_still_used,
        from_rollups=from_rollups,
    )


def _rollup_part(cursor: duckdb.DuckDBPyConnection, filters: QueryFilters) -> RollupPart | None:
    """The part of the window before the retention boundary (retention/), if any."""
    row = cursor.execute("SELECT expired_before_ns FROM retention_state").fetchone()
    expired_before_ns = int(row[0]) if row else 0
    window = filters.window
    if expired_before_ns <= window.since_ns:
        return None
    return RollupPart(
        since=datetime_from_ns(window.since_ns // _NS_PER_DAY * _NS_PER_DAY),
        until=datetime_from_ns(min(window.until_ns, expired_before_ns)),
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
