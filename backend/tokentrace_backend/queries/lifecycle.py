"""``token_lifecycle``: a token's lifecycle events and the states they and its use imply.

The events are those apps record as spans (``tokentrace.record_lifecycle``) and those
issuers register over the API (``POST /api/lifecycle``), one list in ``token_lifecycle``.
The states, evaluated at ``now`` with the thresholds of :class:`LifecycleThresholds`:

- in use: its last request is less than ``in_use_within`` before now;
- ``expiring_soon``: in use, and its known expiry is after now and at most
  ``expiring_within`` after it (a short-lived token, a one-hour JWT, is expiring_soon
  whenever it is in use: it is);
- ``rotated_still_used``: a request came after its first ``rotated`` or ``revoked`` event,
  and the latest such request is in use; once the token has been quiet for
  ``in_use_within``, the rotation's ``quiet_since`` says since when;
- ``stale``: live (not revoked, not expired) and unused for ``stale_after``: since its
  last request, or, never used, since its first event.

Each rule is written once, as the SQL macros of migration 108
(``storage/schema/108_lifecycle_states.sql``), which this query, the token summary and the
states of every token (:mod:`.lifecycle_states`, what the alerts evaluate) call with the
facts they gathered and :func:`threshold_parameters`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final, Protocol

import duckdb

from tokentrace_backend.storage.sql import load_sql, run

from .results import (
    AddressUse,
    ClientUse,
    LifecycleEvent,
    LifecycleStates,
    Rotation,
    TokenLifecycle,
)
from .timestamps import NS_PER_MS, datetime_from_ns, optional_datetime_from_ns

RETIRING_EVENTS: Final = ("rotated", "revoked")
"""Lifecycle events after which further use of the token is suspicious."""
MAX_ADDRESSES: Final = 5
MAX_CLIENTS: Final = 20
_NS_PER_US: Final = 1_000


class LifecycleThresholds(Protocol):
    """What the states need (``settings.LifecycleSettings`` holds the values)."""

    @property
    def expiring_within(self) -> timedelta: ...

    @property
    def in_use_within(self) -> timedelta: ...

    @property
    def stale_after(self) -> timedelta: ...


def token_lifecycle(
    cursor: duckdb.DuckDBPyConnection,
    token_id: str,
    *,
    now_ns: int,
    thresholds: LifecycleThresholds,
) -> TokenLifecycle | None:
    """The token's lifecycle at ``now_ns``; None when no span and no event knows it."""
    parameters = {
        "token_id": token_id,
        "retiring_events": list(RETIRING_EVENTS),
        "max_addresses": MAX_ADDRESSES,
        "max_clients": MAX_CLIENTS,
        "now_ns": now_ns,
        **threshold_parameters(thresholds),
    }
    row = run(cursor, load_sql("queries/lifecycle"), parameters).fetchone()
    assert row is not None  # an aggregate-only SELECT always returns one row
    (
        known,
        expires_ns,
        first_used_ns,
        last_used_ns,
        expired,
        expiring_soon,
        rotated_still_used,
        stale,
        last_addresses,
        retirement,
        requests_after,
        last_used_after_ns,
        clients_after,
        events,
    ) = row
    if not known:
        return None
    rotation = None
    if retirement is not None:
        rotation = _rotation(
            retirement,
            requests_after=requests_after,
            last_used_after_ns=last_used_after_ns,
            clients_after=clients_after,
            now_ns=now_ns,
            in_use_ns=nanoseconds(thresholds.in_use_within),
        )
    return TokenLifecycle(
        token_id=token_id,
        now=datetime_from_ns(now_ns),
        expires_at=optional_datetime_from_ns(expires_ns),
        expired=expired,
        first_used=optional_datetime_from_ns(first_used_ns),
        last_used=optional_datetime_from_ns(last_used_ns),
        last_addresses=[
            AddressUse(
                address=use["address"],
                requests=use["requests"],
                last_used=datetime_from_ns(use["last_ns"]),
            )
            for use in last_addresses or []
        ],
        rotation=rotation,
        states=LifecycleStates(
            expiring_soon=expiring_soon,
            rotated_still_used=rotated_still_used,
            stale=stale,
        ),
        events=[lifecycle_event(event) for event in events or []],
    )


def threshold_parameters(thresholds: LifecycleThresholds) -> dict[str, int]:
    """The windows of the lifecycle macros (migration 108), in nanoseconds, by the names
    the statements that call them use."""
    return {
        "in_use_ns": nanoseconds(thresholds.in_use_within),
        "expiring_ns": nanoseconds(thresholds.expiring_within),
        "stale_ns": nanoseconds(thresholds.stale_after),
    }


def lifecycle_event(row: Mapping[str, Any], role: str | None = None) -> LifecycleEvent:
    """A ``token_lifecycle`` row (with its ``role`` unless given) as the API shows it."""
    trace_id = row["trace_id"]
    return LifecycleEvent(
        event=row["event"] or "unknown",
        at=datetime_from_ns(row["at_ns"]),
        source=row["source"],
        role=role or row["role"],
        token_id=row["token_id"],
        new_token_id=row["new_token_id"],
        actor=row["actor"],
        expires_at=optional_datetime_from_ns(row["expires_ns"]),
        trace_id=None if trace_id is None else bytes(trace_id).hex(),
    )


def _rotation(
    retirement: Mapping[str, Any],
    *,
    requests_after: int,
    last_used_after_ns: int | None,
    clients_after: list[dict[str, Any]] | None,
    now_ns: int,
    in_use_ns: int,
) -> Rotation:
    retired_ns = retirement["at_ns"]
    quiet_from_ns = last_used_after_ns if last_used_after_ns is not None else retired_ns
    lag_ns = None if last_used_after_ns is None else last_used_after_ns - retired_ns
    return Rotation(
        event=retirement["event"],
        at=datetime_from_ns(retired_ns),
        source=retirement["source"],
        new_token_id=retirement["new_token_id"],
        requests_after=requests_after,
        last_used_after=optional_datetime_from_ns(last_used_after_ns),
        lag_ms=None if lag_ns is None else round(lag_ns / NS_PER_MS, 3),
        clients=[
            ClientUse(
                address=client["address"],
                user_agent=client["user_agent"],
                requests=client["requests"],
                last_used=datetime_from_ns(client["last_ns"]),
            )
            for client in clients_after or []
        ],
        quiet_since=(
            datetime_from_ns(quiet_from_ns) if now_ns - quiet_from_ns >= in_use_ns else None
        ),
    )


def nanoseconds(duration: timedelta) -> int:
    """A threshold in nanoseconds, as times are stored."""
    return (duration // timedelta(microseconds=1)) * _NS_PER_US
