"""``/api/tokens`` and the per-token resources (summary, errors, dependencies, timeline)."""

from __future__ import annotations

from typing import Annotated, Any

import duckdb
from fastapi import APIRouter, Query

from tokentrace_backend import queries
from tokentrace_backend.queries.results import (
    DependencyGraph,
    ErrorPage,
    Timeline,
    TokenPage,
    TokenSummary,
)

from .context import Db, Settings
from .errors import TokenNotFound, invalid_parameter
from .parameters import Filters, Limit, Offset, TokenId, normalise_hex
from .time_parameters import parse_duration

router = APIRouter(prefix="/tokens", tags=["tokens"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no span ever carried this token id"}
}
MAX_BUCKETS = 10_000


@router.get("", response_model=TokenPage)
def list_tokens(db: Db, filters: Filters, limit: Limit = 100, offset: Offset = 0) -> TokenPage:
    """Tokens seen in the window, most recently active first (paginate with ``offset``)."""
    with db.reader() as cursor:
        return queries.list_tokens(cursor, filters, limit=limit, offset=offset)


@router.get("/{token_id}", response_model=TokenSummary, responses=_NOT_FOUND)
def token_summary(db: Db, token_id: TokenId, filters: Filters) -> TokenSummary:
    """Outcomes, routes, clients, services, latency percentiles and lifecycle of a token."""
    token_id = normalise_hex(token_id)
    with db.reader() as cursor:
        summary = queries.token_summary(cursor, token_id, filters)
    if summary is None:
        raise TokenNotFound(token_id)
    return summary


@router.get("/{token_id}/errors", response_model=ErrorPage, responses=_NOT_FOUND)
def token_errors(
    *,
    db: Db,
    settings: Settings,
    token_id: TokenId,
    filters: Filters,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ErrorPage:
    """Failing spans in the token's traces, grouped by service, span name and error type."""
    token_id = normalise_hex(token_id)
    with db.reader() as cursor:
        _ensure_known(cursor, token_id)
        return queries.token_errors(
            cursor, token_id, filters, limit=limit, offset=offset, jaeger_url=settings.jaeger_url
        )


@router.get("/{token_id}/dependencies", response_model=DependencyGraph, responses=_NOT_FOUND)
def token_dependencies(db: Db, token_id: TokenId, filters: Filters) -> DependencyGraph:
    """The service graph drawn by the token's traces."""
    token_id = normalise_hex(token_id)
    with db.reader() as cursor:
        _ensure_known(cursor, token_id)
        return queries.token_dependencies(cursor, token_id, filters)


@router.get("/{token_id}/timeline", response_model=Timeline, responses=_NOT_FOUND)
def token_timeline(
    db: Db,
    token_id: TokenId,
    filters: Filters,
    bucket: Annotated[
        str | None,
        Query(max_length=16, description="bucket size such as 1m, 15m, 1h; default: ~100 buckets"),
    ] = None,
) -> Timeline:
    """The token's requests per time bucket and auth outcome."""
    token_id = normalise_hex(token_id)
    bucket_seconds = None
    if bucket is not None:
        size = parse_duration(bucket)
        if size is None or size.total_seconds() < 1:
            raise invalid_parameter("query", "bucket", "expected a duration such as 5m", bucket)
        bucket_seconds = int(size.total_seconds())
        window_seconds = (filters.window.until_ns - filters.window.since_ns) // 1_000_000_000
        if window_seconds / bucket_seconds > MAX_BUCKETS:
            raise invalid_parameter(
                "query", "bucket", f"more than {MAX_BUCKETS} buckets in the window", bucket
            )
    with db.reader() as cursor:
        _ensure_known(cursor, token_id)
        return queries.token_timeline(cursor, token_id, filters, bucket_seconds=bucket_seconds)


def _ensure_known(cursor: duckdb.DuckDBPyConnection, token_id: str) -> None:
    if not queries.token_exists(cursor, token_id):
        raise TokenNotFound(token_id)
