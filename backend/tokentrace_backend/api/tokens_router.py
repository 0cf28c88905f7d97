"""``/api/tokens`` and the per-token resources (summary, errors, dependencies, timeline,
lifecycle, and the report of them all)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import duckdb
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from tokentrace_backend import queries
from tokentrace_backend.queries import KnownToken
from tokentrace_backend.queries.results import (
    DependencyGraph,
    ErrorPage,
    Timeline,
    TokenLifecycle,
    TokenPage,
    TokenReport,
    TokenSummary,
)

from .dependencies import Cursor, NowNs, Settings
from .errors import TokenNotFound, invalid_parameter
from .graph_router import with_layout
from .parameters import (
    HEX_PREFIX,
    Filters,
    Limit,
    Offset,
    TokenId,
    WithLayout,
    normalise_hex,
    parse_duration,
)
from .report_page import PAGE_HEADERS, render_report_page

router = APIRouter(prefix="/tokens", tags=["tokens"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no span ever carried this token id"}
}
_NOT_KNOWN: dict[int | str, dict[str, Any]] = {
    404: {"description": "neither a span nor a registered lifecycle event knows this token id"}
}
_REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "JSON, or HTML with ?format=html"},
    **_NOT_FOUND,
}
MAX_BUCKETS = 10_000


class ReportFormat(StrEnum):
    JSON = "json"
    HTML = "html"


@router.get("", response_model=TokenPage)
def list_tokens(
    *,
    cursor: Cursor,
    filters: Filters,
    owner: Annotated[
        str | None, Query(max_length=200, description="owners containing this (any case)")
    ] = None,
    token_prefix: Annotated[
        str | None, Query(pattern=HEX_PREFIX, description="token ids starting with this")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> TokenPage:
    """Tokens with requests in the window, most recently active first (page with ``offset``)."""
    return queries.list_tokens(
        cursor,
        filters,
        limit=limit,
        offset=offset,
        owner=owner or None,
        token_prefix=None if token_prefix is None else token_prefix.lower(),
    )


@router.get("/{token_id}", response_model=TokenSummary, responses=_NOT_FOUND)
def token_summary(
    cursor: Cursor, settings: Settings, now_ns: NowNs, token_id: TokenId, filters: Filters
) -> TokenSummary:
    """Outcomes, routes, clients, services, latency percentiles and lifecycle of a token."""
    return queries.token_summary(
        cursor,
        _known(cursor, token_id),
        filters,
        now_ns=now_ns,
        thresholds=settings.lifecycle,
    )


@router.get("/{token_id}/errors", response_model=ErrorPage, responses=_NOT_FOUND)
def token_errors(
    *,
    cursor: Cursor,
    settings: Settings,
    token_id: TokenId,
    filters: Filters,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ErrorPage:
    """Failing spans in the token's traces, grouped by service, span name and error type."""
    return queries.token_errors(
        cursor,
        _known(cursor, token_id),
        filters,
        limit=limit,
        offset=offset,
        jaeger_url=settings.jaeger_url,
    )


@router.get("/{token_id}/dependencies", response_model=DependencyGraph, responses=_NOT_FOUND)
def token_dependencies(
    cursor: Cursor, token_id: TokenId, filters: Filters, layout: WithLayout = False
) -> DependencyGraph:
    """The service graph drawn by the calls in the token's traces."""
    graph = queries.token_dependencies(cursor, _known(cursor, token_id), filters)
    return with_layout(graph, layout)


@router.get("/{token_id}/timeline", response_model=Timeline, responses=_NOT_FOUND)
def token_timeline(
    cursor: Cursor,
    token_id: TokenId,
    filters: Filters,
    bucket: Annotated[
        str | None,
        Query(max_length=16, description="bucket size such as 1m, 15m, 1h; default: ~100 buckets"),
    ] = None,
) -> Timeline:
    """The token's requests per time bucket and auth outcome."""
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
    token = _known(cursor, token_id)
    return queries.token_timeline(cursor, token, filters, bucket_seconds=bucket_seconds)


@router.get("/{token_id}/lifecycle", response_model=TokenLifecycle, responses=_NOT_KNOWN)
def token_lifecycle(
    cursor: Cursor, settings: Settings, now_ns: NowNs, token_id: TokenId
) -> TokenLifecycle:
    """The token's lifecycle events (recorded and registered), its expiry and use, and the
    states they imply now: expiring_soon, rotated_still_used, stale."""
    token_id = normalise_hex(token_id)
    lifecycle = queries.token_lifecycle(
        cursor, token_id, now_ns=now_ns, thresholds=settings.lifecycle
    )
    if lifecycle is None:  # neither a span nor a registered event knows it
        raise TokenNotFound(token_id)
    return lifecycle


@router.get("/{token_id}/report", response_model=TokenReport, responses=_REPORT_RESPONSES)
def token_report(
    *,
    cursor: Cursor,
    settings: Settings,
    now_ns: NowNs,
    token_id: TokenId,
    filters: Filters,
    report_format: Annotated[
        ReportFormat, Query(alias="format", description="json, or html: one printable page")
    ] = ReportFormat.JSON,
) -> TokenReport | HTMLResponse:
    """Everything known about the token in one document, for an incident ticket: its
    summary, lifecycle, downstream errors, dependency map and findings."""
    report = queries.token_report(
        cursor,
        _known(cursor, token_id),
        filters,
        now_ns=now_ns,
        thresholds=settings.lifecycle,
        jaeger_url=settings.jaeger_url,
    )
    if report_format is ReportFormat.HTML:
        return HTMLResponse(render_report_page(report), headers=PAGE_HEADERS)
    return report


def _known(cursor: duckdb.DuckDBPyConnection, token_id: str) -> KnownToken:
    token_id = normalise_hex(token_id)
    token = queries.find_token(cursor, token_id)
    if token is None:
        raise TokenNotFound(token_id)
    return token
