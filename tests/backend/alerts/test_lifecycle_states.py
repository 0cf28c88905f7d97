"""The states of every token at once (``queries.tokens_in_lifecycle_states``, what the alerts
evaluate) agree with each token's lifecycle (``GET /api/tokens/{id}/lifecycle``) over tokens
of every kind, at many instants and under two sets of thresholds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.backend.alerts.stored_tokens import (
    DAY,
    HOUR,
    MINUTE,
    T0,
    add_request,
    add_token,
    register,
)
from tokentrace_backend.queries import token_lifecycle
from tokentrace_backend.queries.lifecycle_states import (
    LIFECYCLE_STATES,
    tokens_in_lifecycle_states,
)
from tokentrace_backend.queries.results import LifecycleStates
from tokentrace_backend.settings import LifecycleSettings
from tokentrace_backend.storage import Database

ROTATED = "a1" * 16
REPLACEMENT = "a2" * 16
REVOKED = "a3" * 16
EXPIRING = "a4" * 16
EXPIRED = "a5" * 16
UNUSED = "a6" * 16
NEVER_USED = "a7" * 16
RENEWED = "a8" * 16
SPANS_ONLY = "a9" * 16
CLEAN_ROTATION = "aa" * 16
IDLE_EXPIRING = "ab" * 16
NEVER_USED_EXPIRED = "ac" * 16
TOKENS = (
    ROTATED,
    REPLACEMENT,
    REVOKED,
    EXPIRING,
    EXPIRED,
    UNUSED,
    NEVER_USED,
    RENEWED,
    SPANS_ONLY,
    CLEAN_ROTATION,
    IDLE_EXPIRING,
    NEVER_USED_EXPIRED,
)
INSTANTS = [
    T0 + offset for offset in (0, 12 * HOUR, 2 * DAY, 8 * DAY, 31 * DAY, 45 * DAY, 80 * DAY)
]
SHORT = LifecycleSettings(
    expiring_within=timedelta(days=1),
    in_use_within=timedelta(hours=1),
    stale_after=timedelta(days=2),
)


def store_tokens_of_every_kind(database: Database) -> None:
    numbers = iter(range(1, 100))
    for token in (
        ROTATED,
        REVOKED,
        EXPIRING,
        EXPIRED,
        UNUSED,
        RENEWED,
        CLEAN_ROTATION,
        IDLE_EXPIRING,
    ):
        number = next(numbers)
        add_token(database, token, number, owner=f"owner-{number}")
        if token == ROTATED:  # rotated, then used by a straggler for weeks
            add_request(database, number, T0 - 2 * HOUR)
            for day in range(0, 40, 3):
                add_request(database, number, T0 + day * DAY + 30 * MINUTE, client="10.9.9.9")
        elif token == REVOKED:  # revoked, used after
            add_request(database, number, T0 - 2 * DAY)
            add_request(database, number, T0 + 6 * HOUR)
        elif token == EXPIRING:  # a JWT expiring in 3 days, used daily
            for day in range(-2, 20):
                add_request(database, number, T0 + day * DAY)
        elif token == EXPIRED:
            add_request(database, number, T0 - 40 * DAY)
        elif token == UNUSED:
            add_request(database, number, T0 - 29 * DAY)
        elif token == RENEWED:
            for day in range(0, 50, 5):
                add_request(database, number, T0 + day * DAY)
        elif token in (CLEAN_ROTATION, IDLE_EXPIRING):
            add_request(database, number, T0 - 3 * DAY)
    register(database, "rotated", ROTATED, T0 - HOUR, new_token_id=REPLACEMENT)
    register(database, "revoked", REVOKED, T0 - DAY)
    register(database, "rotated", CLEAN_ROTATION, T0 - 2 * DAY)
    with database.reader() as cursor:  # the JWT exp its requests carried
        cursor.execute(
            "UPDATE token_dim SET jwt_expires_ns = ?, expires_ns = known_expiry_ns(?, token_id)"
            " WHERE token_id = ?",
            [T0 + 3 * DAY, T0 + 3 * DAY, EXPIRING],
        )
    register(database, "created", IDLE_EXPIRING, T0 - 4 * DAY, expires_ns=T0 + 5 * DAY)
    register(database, "expired", EXPIRED, T0 - 10 * DAY)
    register(database, "created", NEVER_USED, T0 - 40 * DAY)
    register(database, "created", NEVER_USED_EXPIRED, T0 - 40 * DAY, expires_ns=T0 - 35 * DAY)
    register(database, "created", RENEWED, T0 - DAY, expires_ns=T0 + 6 * DAY)
    register(database, "renewed", RENEWED, T0 + 5 * DAY, expires_ns=T0 + 30 * DAY)
    # a token whose spans are all linked ones (no request of its own)
    add_token(database, SPANS_ONLY, next(numbers))
    with database.reader() as cursor:
        cursor.execute(
            "UPDATE token_dim SET first_ns = ?, last_ns = ? WHERE token_id = ?",
            [T0 - 20 * DAY, T0 - 20 * DAY, SPANS_ONLY],
        )


@pytest.mark.parametrize("thresholds", [LifecycleSettings(), SHORT], ids=["default", "short"])
def test_the_states_of_every_token_are_each_tokens_lifecycle_states(
    database: Database, thresholds: LifecycleSettings
) -> None:
    store_tokens_of_every_kind(database)
    seen: set[str] = set()
    with database.reader() as cursor:
        for now_ns in INSTANTS:
            all_at_once = {
                token.token_id: set(token.states)
                for token in tokens_in_lifecycle_states(
                    cursor, now_ns=now_ns, thresholds=thresholds
                )
            }
            one_by_one = {}
            for token_id in TOKENS:
                lifecycle = token_lifecycle(cursor, token_id, now_ns=now_ns, thresholds=thresholds)
                assert lifecycle is not None
                on = {state for state, is_on in lifecycle.states.model_dump().items() if is_on}
                if on:
                    one_by_one[token_id] = on
            assert all_at_once == one_by_one, f"at T0 + {(now_ns - T0) / DAY:g} days"
            seen.update(*all_at_once.values())
    assert seen == set(LIFECYCLE_STATES)  # every state came up: the comparison is not empty


def test_the_states_are_the_apis_states() -> None:
    assert tuple(LifecycleStates.model_fields) == LIFECYCLE_STATES
