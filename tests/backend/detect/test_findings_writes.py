"""The detection stage's writes without sequences, RETURNING or ON CONFLICT (so that they
run on DuckLake too): the ids findings_merge.sql gives new findings, the profiles
profiles.sql adds a chunk to, and a finding's state change."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from tokentrace_backend.detect.finding_states import change_finding_state
from tokentrace_backend.detect.kinds import FindingState
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.sql import load_sql, run_script

_RAW = (
    "CREATE OR REPLACE TEMP TABLE detect_raw (kind VARCHAR, token_id VARCHAR,"
    " client_address VARCHAR, subject VARCHAR, severity VARCHAR, summary VARCHAR,"
    " baseline JSON, evidence JSON, first_ns BIGINT, last_ns BIGINT)"
)
Candidate = tuple[str, str | None, str | None, str, str, int, int]


def _merge(cursor: duckdb.DuckDBPyConnection, candidates: Sequence[Candidate], now_ns: int) -> None:
    cursor.execute("BEGIN TRANSACTION")
    cursor.execute(_RAW)
    cursor.executemany(
        "INSERT INTO detect_raw VALUES (?, ?, ?, ?, ?, 'summary', '{}', '{}', ?, ?)",
        list(candidates),
    )
    run_script(cursor, load_sql("detect/findings_merge"), {"now_ns": now_ns})
    cursor.execute("DROP TABLE detect_raw")
    cursor.execute("DROP TABLE detect_candidates")
    cursor.execute("COMMIT")


def _findings(cursor: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return cursor.execute(
        "SELECT id, token_id, subject, first_ns, last_ns, detected_at_ns FROM findings ORDER BY id"
    ).fetchall()


def test_new_findings_of_two_rounds_get_consecutive_distinct_ids(database: Database) -> None:
    with database.reader() as cursor:
        _merge(
            cursor,
            [
                ("burst", "tokA", None, "GET /a", "high", 50, 60),
                ("burst", "tokA", None, "GET /a", "low", 40, 70),  # the same finding
                ("burst", "tokB", None, "GET /b", "low", 10, 20),
            ],
            1_000,
        )
        _merge(
            cursor,
            [
                ("burst", "tokA", None, "GET /a", "low", 80, 90),  # updates finding 2
                ("burst", "tokD", None, "GET /d", "low", 5, 6),
                ("burst", "tokC", None, "GET /c", "low", 5, 6),
            ],
            2_000,
        )
        assert _findings(cursor) == [
            (1, "tokB", "GET /b", 10, 20, 1_000),  # in order of first evidence, then key
            (2, "tokA", "GET /a", 40, 90, 1_000),
            (3, "tokC", "GET /c", 5, 6, 2_000),
            (4, "tokD", "GET /d", 5, 6, 2_000),
        ]


def test_ids_the_dispatcher_has_read_are_not_handed_out_again(database: Database) -> None:
    with database.reader() as cursor:
        _merge(cursor, [("burst", "tokA", None, "GET /a", "low", 1, 2)], 1_000)
        cursor.execute("UPDATE alert_state SET last_finding_id = 1 WHERE name = 'findings'")
        cursor.execute("DELETE FROM findings")
        _merge(cursor, [("burst", "tokB", None, "GET /b", "low", 1, 2)], 2_000)
        assert _findings(cursor) == [(2, "tokB", "GET /b", 1, 2, 2_000)]


def test_a_state_change_tells_whether_the_finding_exists(database: Database) -> None:
    with database.reader() as cursor:
        _merge(cursor, [("burst", "tokA", None, "GET /a", "low", 1, 2)], 1_000)
        assert change_finding_state(cursor, 1, FindingState.RESOLVED, actor="me", now_ns=5)
        assert not change_finding_state(cursor, 2, FindingState.RESOLVED, now_ns=6)
        row = cursor.execute(
            "SELECT state, state_changed_by, updated_at_ns FROM findings WHERE id = 1"
        ).fetchone()
    assert row == ("resolved", "me", 5)


H = 3_600_000_000_000


def _profiles(
    cursor: duckdb.DuckDBPyConnection,
    hours: Sequence[tuple[str, int, int, int, int, int, int]],
    failures: Sequence[tuple[str, int, str]],
) -> None:
    """One chunk into the profiles: ``hours`` as chunk.sql computes them, ``failures``
    (token, start_ns, address) the failed authentications among its requests."""
    cursor.execute("BEGIN TRANSACTION")
    cursor.execute(
        "CREATE TEMP TABLE detect_hours (token_id VARCHAR, hour BIGINT, hour_of_week"
        " USMALLINT, requests UBIGINT, accepted UBIGINT, auth_failures UBIGINT, errors UBIGINT)"
    )
    cursor.executemany("INSERT INTO detect_hours VALUES (?, ?, ?, ?, ?, ?, ?)", list(hours))
    cursor.execute(
        "CREATE TEMP TABLE detect_requests (token_id VARCHAR, start_ns BIGINT, hour BIGINT,"
        " endpoint VARCHAR, auth_failed BOOLEAN, client_address VARCHAR, user_agent VARCHAR)"
    )
    cursor.executemany(
        "INSERT INTO detect_requests VALUES (?, ?, ? // 3600000000000, 'GET /', true, ?, '')",
        [(token, start, start, address) for token, start, address in failures],
    )
    cursor.execute("CREATE TEMP TABLE detect_networks (client_address VARCHAR, network VARCHAR)")
    run_script(cursor, load_sql("detect/profiles"))
    for table in ("detect_hours", "detect_requests", "detect_networks"):
        cursor.execute(f"DROP TABLE {table}")
    cursor.execute("COMMIT")


def test_a_chunk_adds_up_in_the_profiles(database: Database) -> None:
    with database.reader() as cursor:
        _profiles(
            cursor,
            [("tokA", 100, 4, 5, 4, 1, 0), ("tokB", 100, 4, 2, 0, 2, 1)],
            [("tokA", 100 * H, "192.0.2.1"), ("tokB", 100 * H, "192.0.2.1")],
        )
        _profiles(
            cursor,
            [("tokA", 100, 4, 3, 3, 0, 2), ("tokA", 101, 5, 1, 1, 0, 0)],
            [("tokA", 100 * H + 1, "192.0.2.1"), ("tokA", 101 * H, "192.0.2.1")],
        )
        hours = cursor.execute("SELECT * FROM token_hours ORDER BY ALL").fetchall()
        failures = cursor.execute("SELECT * FROM address_failures ORDER BY ALL").fetchall()
    assert hours == [
        ("tokA", 100, 4, 8, 7, 1, 2),
        ("tokA", 101, 5, 1, 1, 0, 0),
        ("tokB", 100, 4, 2, 0, 2, 1),
    ]
    assert failures == [
        ("192.0.2.1", 100, "tokA", 2),
        ("192.0.2.1", 100, "tokB", 1),
        ("192.0.2.1", 101, "tokA", 1),
    ]
