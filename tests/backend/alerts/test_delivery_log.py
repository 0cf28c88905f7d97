"""The delivery log's writes without sequences, RETURNING or ON CONFLICT (so that they run
on DuckLake too): the ids of ``alert_lifecycle`` rows, deliveries recorded once, and the
lifecycle evaluation's mark."""

from __future__ import annotations

import duckdb

from tokentrace_backend.alerts.delivery_log import (
    Marks,
    record_handled,
    record_lifecycle_changes,
)
from tokentrace_backend.alerts.lifecycle import EnteredState, StateChanges
from tokentrace_backend.storage import Database


def _entered(token_id: str, state: str = "stale") -> EnteredState:
    return EnteredState(token_id, state, f"owner of {token_id}", None, {"token": token_id})


def _changes(
    now_ns: int, entered: list[EnteredState], left: list[int] | None = None
) -> StateChanges:
    return StateChanges(now_ns, entered, left or [], len(entered), first=False)


def test_lifecycle_ids_of_two_evaluations_are_consecutive_and_delivered(
    database: Database,
) -> None:
    with database.reader() as cursor:
        first = [_entered("t1", "expiring_soon"), _entered("t2"), _entered("t1")]
        added = record_lifecycle_changes(
            cursor, _changes(1_000, first), [("r1", 0), ("r2", 1), ("r1", 2)], 1_001
        )
        assert added == {"r1", "r2"}
        added = record_lifecycle_changes(
            cursor, _changes(2_000, [_entered("t3")], left=[1]), [("r2", 0)], 2_001
        )
        assert added == {"r2"}
        rows = cursor.execute(
            "SELECT id, token_id, state, on_ns, off_ns FROM alert_lifecycle ORDER BY id"
        ).fetchall()
        deliveries = cursor.execute(
            "SELECT rule_name, source_id FROM alert_deliveries WHERE source = 'lifecycle'"
            " ORDER BY ALL"
        ).fetchall()
    assert rows == [
        (1, "t1", "expiring_soon", 1_000, 2_000),
        (2, "t2", "stale", 1_000, None),
        (3, "t1", "stale", 1_000, None),
        (4, "t3", "stale", 2_000, None),
    ]
    # each delivery names the row of the pair it is about
    assert deliveries == [("r1", 1), ("r1", 3), ("r2", 2), ("r2", 4)]


def test_lifecycle_ids_are_not_handed_out_again_after_a_delete(database: Database) -> None:
    with database.reader() as cursor:
        record_lifecycle_changes(cursor, _changes(1_000, [_entered("t1")]), [("r1", 0)], 1_001)
        cursor.execute("DELETE FROM alert_lifecycle")
        added = record_lifecycle_changes(
            cursor, _changes(2_000, [_entered("t2")]), [("r1", 0)], 2_001
        )
        ids = cursor.execute("SELECT id FROM alert_lifecycle").fetchall()
    assert ids == [(2,)]  # 1 has a delivery: a new pair with that id would not be alerted
    assert added == {"r1"}


def test_recording_a_pending_delivery_again_adds_nothing(database: Database) -> None:
    with database.reader() as cursor:
        assert record_handled(cursor, [("r1", 1), ("r2", 1)], Marks(1, 10), 100) == {"r1", "r2"}
        assert record_handled(cursor, [("r1", 1), ("r2", 1)], Marks(1, 10), 200) == set()
        # a new one beside one recorded before; a candidate named twice is recorded once
        assert record_handled(cursor, [("r1", 1), ("r1", 2), ("r1", 2)], Marks(2, 20), 300) == {
            "r1"
        }
        rows = cursor.execute(
            "SELECT rule_name, source, source_id, status, queued_at_ns FROM alert_deliveries"
            " ORDER BY ALL"
        ).fetchall()
        marks = cursor.execute("SELECT * FROM alert_state WHERE name = 'findings'").fetchone()
    assert rows == [
        ("r1", "finding", 1, "pending", 100),
        ("r1", "finding", 2, "pending", 300),
        ("r2", "finding", 1, "pending", 100),
    ]
    assert marks == ("findings", 2, 20)


def _mark(cursor: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return cursor.execute("SELECT * FROM alert_state WHERE name = 'lifecycle'").fetchall()


def test_the_lifecycle_mark_moves_forward_only_and_is_recreated(database: Database) -> None:
    with database.reader() as cursor:
        record_lifecycle_changes(cursor, _changes(5_000, []), [], 5_001)
        assert _mark(cursor) == [("lifecycle", 0, 5_000)]
        record_lifecycle_changes(cursor, _changes(4_000, []), [], 4_001)  # a clock step back
        assert _mark(cursor) == [("lifecycle", 0, 5_000)]
        cursor.execute("DELETE FROM alert_state WHERE name = 'lifecycle'")
        record_lifecycle_changes(cursor, _changes(6_000, []), [], 6_001)
        assert _mark(cursor) == [("lifecycle", 0, 6_000)]
