"""Query and path parameters shared by the routers (FastAPI dependencies), and the parsing
of the ``since``/``until`` filters: ISO-8601 instants or durations before now.

Everything a client sends is validated here or by FastAPI before it reaches SQL, and it
reaches SQL only as bound parameters.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Path, Query

from tokentrace.attributes import AuthOutcome
from tokentrace_backend.queries import QueryFilters, Window
from tokentrace_backend.queries.timestamps import ns_from_datetime

from .errors import invalid_parameter

DEFAULT_WINDOW = timedelta(hours=24)

# Stored times are int64 unix nanoseconds: this is the range they can express.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)

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


_ISO_HELP = "expected ISO-8601 (2026-01-31T12:00:00Z)"
_INSTANT_HELP = f"{_ISO_HELP} or a duration such as 15m, 2h, 7d"


def parse_instant(text: str, now: datetime) -> datetime:
    """An aware UTC datetime from an ISO-8601 string (naive means UTC) or a duration ago.

    Raises ValueError with a human message otherwise.
    """
    try:
        duration = parse_duration(text)
        if duration is not None:
            return max(EARLIEST, now - duration)
    except OverflowError as error:
        raise ValueError(_INSTANT_HELP) from error
    return parse_iso_instant(text, expected=_INSTANT_HELP)


def parse_iso_instant(text: str, *, expected: str = _ISO_HELP) -> datetime:
    """An aware UTC datetime from an ISO-8601 string (naive means UTC) within what stored
    times hold; ValueError saying ``expected``, or that it is out of range, otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except (ValueError, OverflowError) as error:
        raise ValueError(expected) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-01:00 and the like: past datetime's range
        raise ValueError("time out of range (1970 to 2261)") from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError("time out of range (1970 to 2261)")
    return moment


# --- the parameters -------------------------------------------------------------------------

HEX_ID_32 = r"^[0-9a-fA-F]{32}$"
HEX_PREFIX = r"^[0-9a-fA-F]{1,32}$"
MAX_LIMIT = 1_000

TokenId = Annotated[
    str, Path(pattern=HEX_ID_32, description="the token id: 32 hex characters (tokentrace hash)")
]
TraceId = Annotated[str, Path(pattern=HEX_ID_32, description="the trace id: 32 hex characters")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
Offset = Annotated[
    int, Query(ge=0, le=10_000_000, description="rows to skip: the next_offset of the last page")
]

TIME_HELP = "ISO-8601 instant, or a duration before now such as 15m, 2h, 7d"


def query_filters(
    since: Annotated[
        str | None, Query(max_length=64, description=f"{TIME_HELP}; default until - 24h")
    ] = None,
    until: Annotated[
        str | None, Query(max_length=64, description=f"{TIME_HELP}; default now")
    ] = None,
    service: Annotated[
        str | None, Query(min_length=1, max_length=256, description="only this service")
    ] = None,
    outcome: Annotated[AuthOutcome | None, Query(description="only this auth outcome")] = None,
) -> QueryFilters:
    """The common filters as a :class:`QueryFilters` (422 when a time cannot be parsed)."""
    now = datetime.now(UTC)
    until_at = _instant("until", until, now) if until else now
    since_at = _instant("since", since, now) if since else until_at - DEFAULT_WINDOW
    if since_at >= until_at:
        raise invalid_parameter("query", "since", "since must be before until", since)
    window = Window(since_ns=ns_from_datetime(since_at), until_ns=ns_from_datetime(until_at))
    return QueryFilters(
        window=window, service=service, outcome=None if outcome is None else outcome.value
    )


def _instant(name: str, text: str, now: datetime) -> datetime:
    try:
        return parse_instant(text, now)
    except ValueError as error:
        raise invalid_parameter("query", name, str(error), text) from None


Filters = Annotated[QueryFilters, Depends(query_filters)]


def normalise_hex(identifier: str) -> str:
    """Ids are stored and shown in lowercase hex."""
    return identifier.lower()


def optional_instant_ns(name: str, text: str | None, now: datetime, *, default: int) -> int:
    """A ``since``/``until`` query parameter in unix ns (``default`` when absent; 422 when
    it cannot be parsed)."""
    if text is None:
        return default
    return ns_from_datetime(_instant(name, text, now))


WithLayout = Annotated[
    bool, Query(description="add node positions for drawing the graph (a layered layout)")
]
