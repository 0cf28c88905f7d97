"""A user changes a finding's state: open -> acknowledged -> resolved (or back to open)."""

from __future__ import annotations

import time

import duckdb

from tokentrace_backend.detect.kinds import FindingState


def change_finding_state(
    cursor: duckdb.DuckDBPyConnection,
    finding_id: int,
    state: FindingState,
    *,
    actor: str | None = None,
    now_ns: int | None = None,
) -> bool:
    """Set the state of finding ``finding_id``; False when there is no such finding.

    A resolved finding stays resolved for the evidence it covered: detection opens a new
    finding for what comes later (detect/findings_merge.sql).
    """
    # No RETURNING (DuckLake has none): an UPDATE answers one row, the number of rows it
    # changed, on DuckDB and on DuckLake alike; ids are unique, so 1 or 0.
    row = cursor.execute(
        "UPDATE findings SET state = $state, state_changed_by = $actor, updated_at_ns = $now"
        " WHERE id = $id",
        {
            "state": state.value,
            "actor": actor,
            "now": time.time_ns() if now_ns is None else now_ns,
            "id": finding_id,
        },
    ).fetchone()
    return row is not None and int(row[0]) > 0
