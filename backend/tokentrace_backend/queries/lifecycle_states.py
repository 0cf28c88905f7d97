"""``tokens_in_lifecycle_states``: which tokens are in each lifecycle state now, all tokens
at once (what the alerts evaluate, ``alerts/lifecycle.py``), and ``use_after_rotation``, the
clients that still use some rotated tokens.

The states are those of one token's lifecycle (:mod:`.lifecycle`), by the same rules: the
SQL macros of migration 108, called here with every token's facts gathered by grouping
(``lifecycle_states.sql``) rather than one token's. The statement reads every token's
requests once (their latest), so it costs in proportion to ``token_requests``; the details
of a rotation (its clients) are read only for the tokens asked about. The answers are plain
records rather than API shapes (``results``): no endpoint serves them, the alerts read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import duckdb

from tokentrace_backend.storage.sql import load_sql, run

from .lifecycle import MAX_CLIENTS, RETIRING_EVENTS, LifecycleThresholds, threshold_parameters

LifecycleState = Literal["expiring_soon", "rotated_still_used", "stale"]
"""The lifecycle states, as ``LifecycleStates`` (the API's answer) names its fields."""
LIFECYCLE_STATES: Final[tuple[LifecycleState, ...]] = get_args(LifecycleState)


@dataclass(frozen=True)
class Retirement:
    """A token's first ``rotated`` or ``revoked`` event."""

    event: str
    at_ns: int
    source: str
    new_token_id: str | None


@dataclass(frozen=True)
class TokenInStates:
    """A token in at least one lifecycle state, and the facts that put it there."""

    token_id: str
    token_number: int | None  # None: known only by registered events (no span)
    owner: str | None
    name: str | None
    states: tuple[LifecycleState, ...]
    expires_ns: int | None
    last_used_ns: int | None
    known_since_ns: int | None
    retirement: Retirement | None


@dataclass(frozen=True)
class UseAfterRotation:
    """The requests that used a token after its rotation, and the clients that sent them
    (``address``, ``user_agent``, ``requests``, ``last_ns``; latest first, 20 at most)."""

    requests: int
    last_used_ns: int | None
    clients: list[dict[str, Any]]


def tokens_in_lifecycle_states(
    cursor: duckdb.DuckDBPyConnection, *, now_ns: int, thresholds: LifecycleThresholds
) -> list[TokenInStates]:
    """Every token in at least one state at ``now_ns``, by token id."""
    parameters = {
        "retiring_events": list(RETIRING_EVENTS),
        "now_ns": now_ns,
        **threshold_parameters(thresholds),
    }
    rows = run(cursor, load_sql("queries/lifecycle_states"), parameters).fetchall()
    return [_token_in_states(row) for row in rows]


def use_after_rotation(
    cursor: duckdb.DuckDBPyConnection, retired_ns: Mapping[int, int]
) -> dict[int, UseAfterRotation]:
    """For each token number of ``retired_ns``, its use after that instant (its rotation)."""
    if not retired_ns:
        return {}
    parameters = {
        "token_numbers": list(retired_ns),
        "retired_ns": list(retired_ns.values()),
        "max_clients": MAX_CLIENTS,
    }
    rows = run(cursor, load_sql("queries/use_after_rotation"), parameters).fetchall()
    return {
        int(number): UseAfterRotation(int(requests), last_ns, list(clients or []))
        for number, requests, last_ns, clients in rows
    }


def _token_in_states(row: tuple[Any, ...]) -> TokenInStates:
    (token_id, number, owner, name, expiring_soon, rotated_still_used, stale) = row[:7]
    expires_ns, last_used_ns, known_since_ns, retirement = row[7:]
    on = (expiring_soon, rotated_still_used, stale)
    return TokenInStates(
        token_id=token_id,
        token_number=number,
        owner=owner,
        name=name,
        states=tuple(state for state, is_on in zip(LIFECYCLE_STATES, on, strict=True) if is_on),
        expires_ns=expires_ns,
        last_used_ns=last_used_ns,
        known_since_ns=known_since_ns,
        retirement=None if retirement is None else Retirement(**retirement),
    )
