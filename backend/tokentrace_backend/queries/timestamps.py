"""Conversions between stored unix nanoseconds and the API's UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

NS_PER_SECOND = 1_000_000_000
NS_PER_MS = 1_000_000


def datetime_from_ns(unix_ns: int) -> datetime:
    """A UTC datetime (microsecond precision) from unix nanoseconds."""
    seconds, remainder = divmod(unix_ns, NS_PER_SECOND)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=remainder // 1_000)


def optional_datetime_from_ns(unix_ns: int | None) -> datetime | None:
    return None if unix_ns is None else datetime_from_ns(unix_ns)


def ns_from_datetime(moment: datetime) -> int:
    """Unix nanoseconds from an aware datetime."""
    whole = int(moment.replace(microsecond=0).timestamp())
    return whole * NS_PER_SECOND + moment.microsecond * 1_000


def ms_from_ns(duration_ns: float | None) -> float | None:
    """Milliseconds, rounded to the microsecond, from a nanosecond duration."""
    return None if duration_ns is None else round(duration_ns / NS_PER_MS, 3)
