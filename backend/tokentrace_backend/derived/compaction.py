"""Compaction of the derived per-token tables: their rows sorted by token, in runs.

Rows are appended in arrival order, so one token's rows are spread over every row group
and a per-token query reads the whole table. Sorted by (token_number, start_ns), a token's
rows sit in one or two row groups, and DuckDB skips the others by their min/max
(measured over 10 M spans: 12 ms -> 0.6 ms for a token's requests). A compaction sorts the
rows that arrived since the last one (the unsorted tail) and puts them back as one more
sorted run, when the tail reaches a quarter of the sorted rows (at least
``MIN_UNSORTED_ROWS``): each row is rewritten once, and the runs grow geometrically, so a
token's rows are in a few runs (a dozen over 10 M spans). Rewriting the whole table instead
cost more each time it grew (0.2 -> 0.7 s within 30 s of 80 k spans/s).
"""

from __future__ import annotations

from typing import Final

import duckdb

from tokentrace_backend.storage.sql import load_sql, run_script

COMPACTED_TABLES: Final = ("token_requests", "token_calls", "token_failures")
MIN_UNSORTED_ROWS = 200_000
UNSORTED_FRACTION = 0.25


def compact_if_due(cursor: duckdb.DuckDBPyConnection, *, force: bool = False) -> list[str]:
    """Rewrite, sorted, each derived table whose unsorted tail has grown enough.

    Returns the names of the tables rewritten. Each rewrite is one transaction.
    """
    rewritten = []
    for table in COMPACTED_TABLES:
        sorted_through, sorted_rows, unsorted = _row_counts(cursor, table)
        due = unsorted >= max(MIN_UNSORTED_ROWS, int(sorted_rows * UNSORTED_FRACTION))
        if unsorted > 0 and (force or due):
            _sort_tail(cursor, table, sorted_through)
            rewritten.append(table)
    return rewritten


def _compacted(table: str) -> str:
    """``table``, checked: a table name is SQL text, so only the constants may pass."""
    if table not in COMPACTED_TABLES:
        raise ValueError(f"not a compacted table: {table!r}")
    return table


def _row_counts(cursor: duckdb.DuckDBPyConnection, table: str) -> tuple[int, int, int]:
    """The last slice sorted, and the rows sorted and unsorted."""
    table = _compacted(table)
    counts = f"""
        WITH mark AS (SELECT sorted_through FROM derived_sorted_rows WHERE table_name = $table)
        SELECT
            (SELECT sorted_through FROM mark),
            count(*) FILTER (WHERE slice_batch <= (SELECT sorted_through FROM mark)),
            count(*) FILTER (WHERE slice_batch > (SELECT sorted_through FROM mark))
        FROM {table}
    """  # noqa: S608 - a constant table name, checked above
    row = cursor.execute(counts, {"table": table}).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _sort_tail(cursor: duckdb.DuckDBPyConnection, table: str, sorted_through: int) -> None:
    table = _compacted(table)
    cursor.execute("BEGIN TRANSACTION")
    try:
        run_script(
            cursor,
            load_sql("derived/compaction_rewrite").replace("{table}", table),
            {"sorted_through": sorted_through},
        )
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise
