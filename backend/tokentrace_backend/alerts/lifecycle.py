"""The lifecycle states of tokens as the dispatcher sees them: which (token, state) pairs
have turned on or off since its last evaluation, and the alerts of those that turned on
(``alert_lifecycle``, migration 301).

:func:`state_changes` evaluates the states of every token at once
(``queries.lifecycle_states``: the rules of ``GET /api/tokens/{id}/lifecycle``, migration
108's macros) and compares them with the pairs recorded on, in one read transaction; the
dispatcher then records the changes and the deliveries of the pairs that turned on in one
write transaction (``delivery_log.record_lifecycle_changes``). A pair is alerted when it
turns on, not again while it stays on, and again after it has turned off and on.

An alert carries the facts of its state as they were when it turned on (``details``, unix
ns): ``expiring_soon`` its expiry and last request; ``rotated_still_used`` the rotation
(event, time, new token), the requests after it, the last of them and the clients that sent
them; ``stale`` its last request (none: never used) and since when it is unused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import duckdb

from tokentrace_backend.queries.lifecycle import LifecycleThresholds
from tokentrace_backend.queries.lifecycle_states import (
    TokenInStates,
    UseAfterRotation,
    tokens_in_lifecycle_states,
    use_after_rotation,
)

ROTATED_STILL_USED: Final = "rotated_still_used"


@dataclass(frozen=True)
class EnteredState:
    """A (token, state) pair found on that was not on at the previous evaluation."""

    token_id: str
    state: str
    owner: str | None
    name: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class StateChanges:
    """What one evaluation at ``now_ns`` found. ``first`` when no evaluation came before
    (since migration 301): the pairs on then are recorded, not alerted."""

    now_ns: int
    entered: list[EnteredState]
    left: list[int]  # alert_lifecycle ids of the pairs no longer on
    on: int  # pairs on now
    first: bool


@dataclass(frozen=True)
class LifecycleAlert:
    """One row of ``alert_lifecycle``: a token that entered a state, as the sender posts it."""

    id: int
    token_id: str
    state: str
    owner: str | None
    name: str | None
    on_ns: int
    details: dict[str, Any]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> LifecycleAlert:
        """From the lifecycle columns of ``alerts/pending_deliveries.sql``, in its order."""
        id_, token_id, state, owner, name, on_ns, details = row
        return cls(
            id=int(id_),
            token_id=token_id,
            state=state,
            owner=owner,
            name=name,
            on_ns=int(on_ns),
            details=json.loads(details) if isinstance(details, str) else details,
        )


LIFECYCLE_COLUMNS = 7  # the lifecycle alert's columns in the rows of pending_deliveries.sql


def state_changes(
    cursor: duckdb.DuckDBPyConnection, *, now_ns: int, thresholds: LifecycleThresholds
) -> StateChanges:
    """The pairs that turned on and off since the last evaluation, at ``now_ns``, read in
    one transaction (the states of every token, the pairs recorded on, and the use after
    their rotation of the tokens that entered ``rotated_still_used``)."""
    cursor.execute("BEGIN TRANSACTION")
    try:
        mark = cursor.execute(
            "SELECT last_updated_ns FROM alert_state WHERE name = 'lifecycle'"
        ).fetchone()
        tokens = tokens_in_lifecycle_states(cursor, now_ns=now_ns, thresholds=thresholds)
        recorded: dict[tuple[str, str], int] = {
            (token_id, state): int(id_)
            for id_, token_id, state in cursor.execute(
                "SELECT id, token_id, state FROM alert_lifecycle WHERE off_ns IS NULL"
            ).fetchall()
        }
        on_now = {(token.token_id, state): token for token in tokens for state in token.states}
        entering = [
            (token, state)
            for (_, state), token in on_now.items()
            if (token.token_id, state) not in recorded
        ]
        uses = use_after_rotation(
            cursor,
            {
                token.token_number: token.retirement.at_ns
                for token, state in entering
                if state == ROTATED_STILL_USED
                and token.token_number is not None
                and token.retirement is not None
            },
        )
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise
    return StateChanges(
        now_ns=now_ns,
        entered=[
            EnteredState(
                token_id=token.token_id,
                state=state,
                owner=token.owner,
                name=token.name,
                details=_details(token, state, uses),
            )
            for token, state in entering
        ],
        left=sorted(id_ for pair, id_ in recorded.items() if pair not in on_now),
        on=len(on_now),
        first=mark is None or int(mark[0]) == 0,
    )


def _details(token: TokenInStates, state: str, uses: dict[int, UseAfterRotation]) -> dict[str, Any]:
    if state == "expiring_soon":
        return {"expires_ns": token.expires_ns, "last_used_ns": token.last_used_ns}
    if state == ROTATED_STILL_USED:
        retirement = token.retirement
        use = uses.get(token.token_number) if token.token_number is not None else None
        return {
            "event": retirement.event if retirement else None,
            "at_ns": retirement.at_ns if retirement else None,
            "source": retirement.source if retirement else None,
            "new_token_id": retirement.new_token_id if retirement else None,
            "requests_after": use.requests if use else 0,
            "last_used_after_ns": use.last_used_ns if use else None,
            "clients": use.clients if use else [],
        }
    # stale
    return {
        "last_used_ns": token.last_used_ns,
        "unused_since_ns": (
            token.last_used_ns if token.last_used_ns is not None else token.known_since_ns
        ),
    }
