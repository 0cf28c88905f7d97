"""``register_lifecycle`` answers the row it stored (without RETURNING, which DuckLake
lacks): the same as ``token_lifecycle`` holds, and the same that ``within`` is handed."""

from __future__ import annotations

from typing import Any

import duckdb

from tokentrace_backend.derived import LifecycleRegistration, derived_tables_of, register_lifecycle
from tokentrace_backend.storage import Database

_COLUMNS = "token_id, new_token_id, event, actor, at_ns, trace_id, source, expires_ns"


def test_a_registration_answers_the_row_it_stored(database: Database) -> None:
    handed: list[dict[str, Any]] = []

    def within(cursor: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> None:
        handed.append(row)

    registrations = [
        LifecycleRegistration(
            event="renewed", token_id="ab" * 16, at_ns=10**18, actor="ci", expires_ns=2 * 10**18
        ),
        LifecycleRegistration(
            event="rotated", token_id="ab" * 16, at_ns=10**18 + 1, new_token_id="cd" * 16
        ),
    ]
    with database.reader() as cursor:
        answers = [
            register_lifecycle(cursor, derived_tables_of(database), registration, within=within)
            for registration in registrations
        ]
        stored = cursor.execute(f"SELECT {_COLUMNS} FROM token_lifecycle ORDER BY at_ns")
        columns = [column[0] for column in stored.description or ()]
        rows = [dict(zip(columns, row, strict=True)) for row in stored.fetchall()]
    assert answers == rows == handed
    assert answers[1] == {
        "token_id": "ab" * 16,
        "new_token_id": "cd" * 16,
        "event": "rotated",
        "actor": None,
        "at_ns": 10**18 + 1,
        "trace_id": None,
        "source": "api",
        "expires_ns": None,
    }
