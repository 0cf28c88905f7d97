"""Tokens, their requests and their lifecycle events written straight into the derived
tables of a real database, as the refresh would derive them from spans, and registered as
``POST /api/lifecycle`` registers them (``derived.register_lifecycle``); the clock the
lifecycle alerts are evaluated at; and the dispatcher's lifecycle tables read back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tokentrace_backend.derived import LifecycleRegistration, derived_tables_of, register_lifecycle
from tokentrace_backend.storage.database import ReadableDatabase

NS = 1_000_000_000
MINUTE = 60 * NS
HOUR = 60 * MINUTE
DAY = 24 * HOUR
T0 = 1_793_620_800 * NS  # 2026-11-02T12:00:00Z


def iso(unix_ns: int) -> str:
    moment = datetime.fromtimestamp(unix_ns // NS, UTC).replace(microsecond=unix_ns % NS // 1000)
    return moment.isoformat().replace("+00:00", "Z")


class Clock:
    """The dispatcher's now (unix ns), set by the test."""

    def __init__(self, now_ns: int = T0) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


def add_token(
    database: ReadableDatabase,
    token_id: str,
    number: int,
    *,
    owner: str | None = None,
    name: str | None = None,
) -> None:
    """The token in token_dim, as the refresh numbers it when its first span arrives."""
    with database.reader() as cursor:
        cursor.execute(
            "INSERT INTO token_dim (token_number, token_id, owner, name) VALUES (?, ?, ?, ?)",
            [number, token_id, owner, name],
        )


def add_request(
    database: ReadableDatabase,
    number: int,
    at_ns: int,
    *,
    client: str = "10.0.0.1",
    user_agent: str = "python-httpx/0.28",
) -> None:
    """One request of token ``number`` at ``at_ns``, and its times in token_dim."""
    with database.reader() as cursor:
        cursor.execute(
            "INSERT INTO token_requests (token_number, start_ns, duration_us, service_name,"
            " http_method, http_route, http_status, auth_outcome, client_address, user_agent,"
            " failed) VALUES (?, ?, 1500, 'gateway', 'GET', '/orders', 200, 'success', ?, ?,"
            " false)",
            [number, at_ns, client, user_agent],
        )
        cursor.execute(
            "UPDATE token_dim SET first_ns = least(coalesce(first_ns, $at), $at),"
            " last_ns = greatest(coalesce(last_ns, $at), $at) WHERE token_number = $number",
            {"at": at_ns, "number": number},
        )


def register(
    database: ReadableDatabase, event: str, token_id: str, at_ns: int, **more: Any
) -> None:
    """A lifecycle event registered as ``POST /api/lifecycle`` does (``new_token_id``,
    ``actor``, ``expires_ns``)."""
    registration = LifecycleRegistration(event=event, token_id=token_id, at_ns=at_ns, **more)
    with database.reader() as cursor:
        register_lifecycle(cursor, derived_tables_of(database), registration)


def evaluated_ns(database: ReadableDatabase) -> int:
    """The clock's time of the dispatcher's latest evaluation of the states (0: none yet)."""
    with database.reader() as cursor:
        row = cursor.execute(
            "SELECT last_updated_ns FROM alert_state WHERE name = 'lifecycle'"
        ).fetchone()
    return 0 if row is None else int(row[0])


def pairs_on(database: ReadableDatabase) -> list[tuple[str, str]]:
    """The (token, state) pairs the dispatcher has recorded on."""
    with database.reader() as cursor:
        rows = cursor.execute(
            "SELECT token_id, state FROM alert_lifecycle WHERE off_ns IS NULL ORDER BY ALL"
        ).fetchall()
    return [(str(token), str(state)) for token, state in rows]
