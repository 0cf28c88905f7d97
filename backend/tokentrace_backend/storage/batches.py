"""Ranges of write batches: how the stages that follow the writer (the derived tables,
the detectors) cut what is new into pieces of bounded size."""

from __future__ import annotations

import duckdb

# The batch holding the max_spans-th span after from_batch (or the last batch up to
# until_batch): counted per batch, so DuckDB sorts thousands of batch ids, not the
# millions of span rows a LIMIT over the sorted spans would (64 ms -> a few ms per call
# over 500,000 spans).
_RANGE_END = """
SELECT coalesce(min(batch_id) FILTER (WHERE running >= $max_spans), max(batch_id))
FROM (
    SELECT batch_id, sum(count(*)) OVER (ORDER BY batch_id) AS running
    FROM spans
    WHERE batch_id > $from_batch AND batch_id <= $until_batch
    GROUP BY batch_id
)
"""


def batch_range_end(
    cursor: duckdb.DuckDBPyConnection, from_batch: int, until_batch: int, max_spans: int
) -> int | None:
    """The last batch of the next piece after ``from_batch``: whole batches, the one that
    holds the ``max_spans``-th span included, never past ``until_batch``. None when no
    span was written in that range."""
    row = cursor.execute(
        _RANGE_END,
        {"from_batch": from_batch, "until_batch": until_batch, "max_spans": max_spans},
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])
