"""A token's known expiry in ``token_dim`` (``jwt_expires_ns``, ``expires_ns``): the JWT exp
its request spans carry, the expiry its lifecycle events state (recorded as spans or
registered), and which wins."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind

from tests.backend.span_builder import SpanBuilder
from tokentrace import attributes as tt
from tokentrace_backend.derived import (
    LifecycleRegistration,
    derived_tables_of,
    refresh_derived,
    register_lifecycle,
)
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter

TOKEN = "1f" * 16
S = 1_000_000_000
T = 1_795_000_000  # unix seconds, 2026-11-18
EXP = T + 3_600  # the JWT's exp


def jwt_request(builder: SpanBuilder, start_s: int, exp: Any = EXP, token: str = TOKEN) -> None:
    """A request span as the middleware tags it for a JWT (its claims as attributes)."""
    builder.span(
        "gateway",
        "GET /orders",
        kind=SpanKind.SERVER,
        start_ns=start_s * S,
        attributes={
            tt.TOKEN_ID: token,
            tt.AUTH_OUTCOME: "success",
            tt.TOKEN_KIND: "jwt",
            tt.TOKEN_EXPIRES_AT: exp,
        },
    )


def derive(builder: SpanBuilder, writer: SpanWriter, database: Database) -> None:
    builder.flush(writer)
    with database.reader() as cursor:
        refresh_derived(cursor)


def expiry(database: Database, token: str = TOKEN) -> tuple[object, ...] | None:
    with database.reader() as cursor:
        return cursor.execute(
            "SELECT jwt_expires_ns, expires_ns FROM token_dim WHERE token_id = $token",
            {"token": token},
        ).fetchone()


def registered(database: Database, event: str, at_s: int, **fields: Any) -> None:
    with database.reader() as cursor:
        register_lifecycle(
            cursor,
            derived_tables_of(database),
            LifecycleRegistration(event=event, token_id=TOKEN, at_ns=at_s * S, **fields),
        )


def test_the_jwt_exp_of_request_spans_fills_the_expiry(
    builder: SpanBuilder, writer: SpanWriter, database: Database
) -> None:
    jwt_request(builder, T)
    # other spans of the request carry no claims of their own; a stray value does not count
    builder.span(
        "gateway",
        "GET",
        kind=SpanKind.CLIENT,
        start_ns=T * S + 1,
        attributes={tt.TOKEN_ID: TOKEN, tt.TOKEN_EXPIRES_AT: EXP + 10},
    )
    derive(builder, writer, database)
    assert expiry(database) == (EXP * S, EXP * S)
    # a later slice without the claim keeps it
    builder.request("gateway", "/x", token_id=TOKEN, outcome="success", start_ns=(T + 60) * S)
    derive(builder, writer, database)
    assert expiry(database) == (EXP * S, EXP * S)


def test_an_exp_that_int64_nanoseconds_cannot_hold_is_ignored(
    builder: SpanBuilder, writer: SpanWriter, database: Database
) -> None:
    jwt_request(builder, T, exp=10**12, token="2e" * 16)  # year 33658
    jwt_request(builder, T, exp=10**10, token="5b" * 16)  # 2286: past int64 ns, not uint64
    jwt_request(builder, T, exp=-5, token="3d" * 16)
    jwt_request(builder, T, exp="soon", token="4c" * 16)
    derive(builder, writer, database)  # and the refresh does not fail on them
    for token in ("2e" * 16, "5b" * 16, "3d" * 16, "4c" * 16):
        assert expiry(database, token) == (None, None)


def test_a_recorded_lifecycle_span_states_an_expiry(
    builder: SpanBuilder, writer: SpanWriter, database: Database
) -> None:
    # record_lifecycle(..., expires_at=...) for an opaque token: no JWT exp
    builder.span(
        "issuer",
        tt.LIFECYCLE_EVENT_NAME,
        kind=SpanKind.INTERNAL,
        start_ns=T * S,
        attributes={tt.TOKEN_ID: TOKEN, tt.LIFECYCLE_EVENT: "renewed", tt.TOKEN_EXPIRES_AT: EXP},
    )
    derive(builder, writer, database)
    with database.reader() as cursor:
        rows = cursor.execute(
            "SELECT event, source, expires_ns, trace_id IS NOT NULL FROM token_lifecycle"
        ).fetchall()
    assert rows == [("renewed", "span", EXP * S, True)]
    assert expiry(database) == (None, EXP * S)


def test_the_earlier_of_jwt_exp_and_stated_expiry_wins(
    builder: SpanBuilder, writer: SpanWriter, database: Database
) -> None:
    jwt_request(builder, T)
    derive(builder, writer, database)
    # an issuer says the token ends sooner: that wins, at once (no refresh needed)
    registered(database, "created", T - 60, expires_ns=(T + 600) * S)
    assert expiry(database) == (EXP * S, (T + 600) * S)
    # a renewal replaces the stated expiry, but cannot outlive the JWT's own exp
    registered(database, "renewed", T + 300, expires_ns=(EXP + 86_400) * S)
    assert expiry(database) == (EXP * S, EXP * S)
    # an expired event states its own time
    registered(database, "expired", T + 900)
    assert expiry(database) == (EXP * S, (T + 900) * S)
    # and the refresh of a later slice computes the same
    builder.request("gateway", "/x", token_id=TOKEN, outcome="success", start_ns=(T + 950) * S)
    derive(builder, writer, database)
    assert expiry(database) == (EXP * S, (T + 900) * S)


def test_an_expiry_registered_before_the_first_span_applies_when_it_arrives(
    builder: SpanBuilder, writer: SpanWriter, database: Database
) -> None:
    registered(database, "created", T - 60, expires_ns=(T + 600) * S, actor="issuer")
    assert expiry(database) is None  # no span yet: token_dim does not know it
    builder.request("gateway", "/x", token_id=TOKEN, outcome="success", start_ns=T * S)
    derive(builder, writer, database)
    assert expiry(database) == (None, (T + 600) * S)
