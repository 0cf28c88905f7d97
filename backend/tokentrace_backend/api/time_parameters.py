"""Parsing of the ``since``/``until`` filters: ISO-8601 instants or durations before now."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

DEFAULT_WINDOW = timedelta(hours=24)

# Stored times are int64 unix nanoseconds: this is the range they can express.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2262, 1, 1, tzinfo=timezone.utc)

_DURATION = re.compile(r"^(\d{1,9})(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta | None:
    """``15m``, ``2h``, ``7d``... as a timedelta; None when ``text`` is not a duration."""
    match = _DURATION.match(text.strip())
    if match is None:
        return None
    amount, unit = match.groups()
    try:
        return timedelta(**{_UNITS[unit]: int(amount)})
    except OverflowError:  # 999999999w: more days than a timedelta holds
        return None


def parse_instant(text: str, now: datetime) -> datetime:
    """An aware UTC datetime from an ISO-8601 string (naive means UTC) or a duration ago.

    Raises ValueError with a human message otherwise.
    """
    try:
        duration = parse_duration(text)
        if duration is not None:
            return max(EARLIEST, now - duration)
        moment = datetime.fromisoformat(text.strip())
    except (ValueError, OverflowError) as error:
        raise ValueError(
            "expected ISO-8601 (2026-01-31T12:00:00Z) or a duration such as 15m, 2h, 7d"
        ) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        moment = moment.astimezone(timezone.utc)
    except OverflowError:  # 9999-12-31T23:59-01:00 and the like: past datetime's range
        raise ValueError("time out of range (1970 to 2261)") from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError("time out of range (1970 to 2261)")
    return moment
