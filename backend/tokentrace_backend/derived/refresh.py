"""Trace-level token linking, and the refresh of the derived per-token tables it feeds.

A span belongs to its own token, else to the token of its nearest tagged ancestor, else to
the token of its trace's earliest tagged span (``linking.sql``).

Per-token questions cannot be answered quickly from ``spans`` itself: it is in ingest
order, so one token's few hundred traces are spread over every row group. Measured over
10 M spans (benchmarks/query_latency.py), linking at query time cost 0.4-1 s per token
query; from the derived tables (sorted by token, see compaction.py) it is 10-55 ms, for
about 9 bytes per span. So the linked spans are derived, incrementally by ``batch_id``,
into small per-token tables (``storage/schema/100_token_derived.sql``) that the token
queries read: :func:`refresh_derived` processes the batches written since the last
refresh, linking each new span within its whole trace (earlier spans of the trace
included), in one transaction with the new watermark. The single-trace view still links
at query time, with the same SQL (:func:`linked_spans_sql`).

A span that arrives before every tagged span of its trace is derived without a token and
linked when the first tagged span of its trace arrives. A cross-service call pair is
derived when the later of its two spans arrives; a client span whose server side has not
arrived yet counts as a call to a remote peer until it does. Not handled: a span linked to
its trace's default token whose nearer tagged ancestor arrives later keeps the default.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from tokentrace_backend.derived.compaction import compact_if_due
from tokentrace_backend.storage.database import ReadableDatabase
from tokentrace_backend.storage.sql import load_sql, run

# Spans of one trace lie close together in time, so linking only looks this far around the
# time range of the spans being derived, which lets DuckDB skip row groups by start_ns.
LINK_MARGIN_NS = 15 * 60 * 1_000_000_000

# Spans derived per transaction: bounds the memory of a catch-up over a large backlog.
REFRESH_SLICE_SPANS = 500_000

# A slice's statements, in order, after refresh_linked has materialised its linked spans.
_REFRESH_STATEMENTS = (
    load_sql("derived/refresh_token_dim"),
    load_sql("derived/refresh_token_metadata"),
    load_sql("derived/refresh_requests"),
    load_sql("derived/refresh_superseded_calls"),
    load_sql("derived/refresh_superseded_delete"),
    load_sql("derived/refresh_calls"),
    "INSERT INTO token_calls SELECT * FROM refresh_new_calls",  # this slice's calls, per token
    load_sql("derived/refresh_relinked_calls"),
    load_sql("derived/refresh_call_minutes"),
    load_sql("derived/refresh_failures"),
    load_sql("derived/refresh_lifecycle"),
)
_REFRESH_TEMP_TABLES = ("refresh_linked", "refresh_superseded", "refresh_new_calls")


def linked_spans_sql(selected_traces: str, body: str) -> str:
    """SQL text: ``WITH RECURSIVE <selected_traces>, <linking>, <body>``.

    ``selected_traces`` defines the ``selected_traces(trace_id)`` CTE and ``body`` continues
    the statement over ``linked_spans``. Only the backend's own SQL text is joined; values
    stay parameters.
    """
    return (
        "WITH RECURSIVE\n"
        + selected_traces.strip()
        + ",\n"
        + load_sql("derived/linking").strip()
        + "\n"
        + body.strip()
    )


# The linked spans of the traces with spans in the slice's batches, materialised for the
# statements of the slice.
_REFRESH_LINKED = "CREATE OR REPLACE TEMP TABLE refresh_linked AS\n" + linked_spans_sql(  # noqa: S608
    "selected_traces AS (SELECT DISTINCT trace_id FROM spans\n"
    "    WHERE batch_id > $from_batch AND batch_id <= $to_batch)",
    load_sql("derived/refresh_linked"),
)


def refresh_derived(
    cursor: duckdb.DuckDBPyConnection,
    *,
    slice_spans: int = REFRESH_SLICE_SPANS,
    max_slices: int | None = None,
) -> int:
    """Derive the per-token rows of every batch committed before this call.

    Returns the number of batches processed. Each slice is one transaction, so readers see
    the derived tables either before or after a slice, never half of one. Batches committed
    during the call are left to the next one: chasing the writer would keep a refresh
    running for as long as ingest lasts. With ``max_slices``, stop after that many slices
    (the rest stays for the next call): a bounded piece of work for a busy moment.
    """
    processed = 0
    slices = 0
    until_batch: int | None = None
    while max_slices is None or slices < max_slices:
        row = cursor.execute(
            "SELECT last_batch_id FROM derived_state WHERE name = 'token_tables'"
        ).fetchone()
        from_batch = int(row[0]) if row else 0
        if until_batch is None:
            # The newest batch committed now: a refresh stops there rather than chasing the
            # writer. Row groups at or below from_batch are skipped by their min/max.
            newest = cursor.execute(
                "SELECT max(batch_id) FROM spans WHERE batch_id > $from_batch",
                {"from_batch": from_batch},
            ).fetchone()
            if newest is None or newest[0] is None:
                return processed
            until_batch = int(newest[0])
        bounds = run(
            cursor,
            load_sql("derived/refresh_bounds"),
            {"from_batch": from_batch, "until_batch": until_batch, "max_spans": slice_spans},
        ).fetchone()
        if bounds is None or bounds[0] is None:
            return processed
        to_batch, first_ns, last_ns = (int(value) for value in bounds)
        _refresh_slice(cursor, from_batch, to_batch, first_ns, last_ns)
        processed += to_batch - from_batch
        slices += 1
    return processed


def _refresh_slice(
    cursor: duckdb.DuckDBPyConnection, from_batch: int, to_batch: int, first_ns: int, last_ns: int
) -> None:
    parameters: dict[str, Any] = {
        "from_batch": from_batch,
        "to_batch": to_batch,
        "link_since_ns": first_ns - LINK_MARGIN_NS,
        "link_until_ns": last_ns + LINK_MARGIN_NS,
        "link_max_batch": to_batch,
    }
    cursor.execute("BEGIN TRANSACTION")
    try:
        with _no_build_side_flip(cursor):
            run(cursor, _REFRESH_LINKED, parameters)
            for statement in _REFRESH_STATEMENTS:
                run(cursor, statement, parameters)
        cursor.execute(
            "UPDATE derived_state SET last_batch_id = $to_batch WHERE name = 'token_tables'",
            {"to_batch": to_batch},
        )
        for table in _REFRESH_TEMP_TABLES:  # constant names
            cursor.execute(f"DROP TABLE {table}")
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise


@contextmanager
def _no_build_side_flip(cursor: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Turn off DuckDB's build/probe flip of hash joins for the statements of a refresh.

    DuckDB estimates the recursive ancestor walk's output as large, so it flips the join of
    the walk's result with the slice's spans and builds its hash table on the spans, every
    column of them (0.81 s for 300,000 spans; 0.36 s probing with them instead), and the
    UPDATE of ``token_dim`` suffers the same way (0.6-0.7 us per span, then ~0.1). Over a
    500,000-span slice the refresh went from 2.9-3.2 to 2.3-2.8 us per span. Only this
    cursor's session is affected, and only for the slice.
    """
    cursor.execute("SET disabled_optimizers = 'build_side_probe_side'")
    try:
        yield
    finally:
        cursor.execute("RESET disabled_optimizers")


class DerivedTables:
    """Keeps the derived tables caught up; one refresh at a time per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def catch_up(
        self,
        cursor: duckdb.DuckDBPyConnection,
        *,
        compact: bool = False,
        max_spans: int | None = None,
    ) -> int:
        """Refresh if batches were written since the last refresh; returns batches processed.

        With ``compact``, also rewrite sorted the tables whose unsorted tail grew enough
        (seconds on large tables: for background work, not for a waiting request). With
        ``max_spans``, derive only one slice of about that many spans (whole batches) and
        leave the rest for later; a request must not pass it, it needs every batch.
        """
        with self._lock:
            if max_spans is None:
                processed = refresh_derived(cursor)
            else:
                processed = refresh_derived(cursor, slice_spans=max_spans, max_slices=1)
            if compact:
                compact_if_due(cursor)
            return processed


# One DerivedTables (one refresh lock) per database, however many apps serve it: two
# refreshers of the same file would otherwise race for the same batches.
_BY_DATABASE: weakref.WeakKeyDictionary[ReadableDatabase, DerivedTables] = (
    weakref.WeakKeyDictionary()
)
_BY_DATABASE_LOCK = threading.Lock()


def derived_tables_of(database: ReadableDatabase) -> DerivedTables:
    """The :class:`DerivedTables` of ``database``, made once."""
    with _BY_DATABASE_LOCK:
        derived = _BY_DATABASE.get(database)
        if derived is None:
            derived = DerivedTables()
            _BY_DATABASE[database] = derived
        return derived
