"""``timeline``: a token's requests per time bucket and outcome."""

from __future__ import annotations

import duckdb

from tokentrace_backend.storage.sql import load_sql, run

from .filters import QueryFilters
from .results import Timeline, TimelineBucket
from .timestamps import NS_PER_SECOND, datetime_from_ns
from .tokens import KnownToken

# Bucket sizes offered when the caller does not choose: the smallest that keeps a window
# under about a hundred buckets.
_NICE_BUCKETS_SECONDS = (60, 300, 900, 3_600, 21_600, 86_400, 604_800)
_TARGET_BUCKETS = 100


def default_bucket_seconds(since_ns: int, until_ns: int) -> int:
    """The smallest of the usual bucket sizes giving at most ~100 buckets over the window."""
    span_seconds = max(1, (until_ns - since_ns) // NS_PER_SECOND)
    for seconds in _NICE_BUCKETS_SECONDS:
        if span_seconds / seconds <= _TARGET_BUCKETS:
            return seconds
    return _NICE_BUCKETS_SECONDS[-1]


def token_timeline(
    cursor: duckdb.DuckDBPyConnection,
    token: KnownToken,
    filters: QueryFilters,
    *,
    bucket_seconds: int | None = None,
) -> Timeline:
    """Request counts per bucket (aligned on the window start) and auth outcome."""
    window = filters.window
    seconds = bucket_seconds or default_bucket_seconds(window.since_ns, window.until_ns)
    parameters = {
        **filters.parameters(),
        "token_number": token.number,
        "bucket_ns": seconds * NS_PER_SECOND,
    }
    rows = run(cursor, load_sql("queries/timeline"), parameters).fetchall()
    return Timeline(
        token_id=token.token_id,
        since=datetime_from_ns(window.since_ns),
        until=datetime_from_ns(window.until_ns),
        bucket_seconds=seconds,
        buckets=[
            TimelineBucket(
                start=datetime_from_ns(start_ns),
                outcomes={str(outcome): count for outcome, count in outcomes.items()},
                requests=requests,
            )
            for start_ns, outcomes, requests in rows
        ],
    )
