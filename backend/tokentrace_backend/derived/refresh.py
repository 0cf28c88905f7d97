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
refresh, in slices, each one transaction with the new watermark.

A slice links its spans with the earlier spans of their traces that can still matter: the
**link state** (``link_spans``, migration 103), which each slice updates. It holds the
calls whose other side has not arrived yet and the spans without a token of their own, for
as long as the link window (``LINK_WINDOW_SECONDS``, by arrival). Reading the state rather
than every recent span of ``spans`` keeps a slice's cost proportional to the slice: it used
to scan ±15 minutes of spans per slice, which under sustained ingest was the whole table.
The single-trace view links at query time, with the same SQL (:func:`linked_spans_sql`).

A span that arrives before every tagged span of its trace is derived without a token and
linked when a tagged span of its trace arrives. A cross-service call pair is derived when
the later of its two spans arrives; a client span whose server side has not arrived yet
counts as a call to a remote peer until it does. Both hold while the two arrive within the
link window of each other. Not handled: a span linked to its trace's default token whose
nearer tagged ancestor arrives later keeps the default.

The detectors (``detect/``) follow behind with a watermark of their own: they read the
new batches' request spans from ``spans`` and their failures from ``token_failures`` by
``slice_batch``, the last batch of the slice that derived them.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb

from tokentrace_backend.derived.compaction import compact_if_due
from tokentrace_backend.storage.batches import batch_range_end
from tokentrace_backend.storage.database import ReadableDatabase
from tokentrace_backend.storage.sql import load_sql, run, run_script

# How long (by arrival) the link state keeps a span that may still link: the two sides of a
# call, or an untagged span and its tagged ancestor, must arrive within this of each other.
# Exporters deliver a trace's spans within seconds (the SDK's batch processor every 5 s,
# a collector's batch every 200 ms), retries within tens of seconds.
LINK_WINDOW_SECONDS = 60.0

# Spans derived per transaction: bounds the memory of a catch-up over a large backlog.
REFRESH_SLICE_SPANS = 500_000

# A slice's statements, in order, after refresh_linked has materialised its linked spans.
_REFRESH_STATEMENTS = (
    load_sql("derived/refresh_token_dim"),
    load_sql("derived/refresh_lifecycle"),  # before the metadata: it reads them for expiry
    load_sql("derived/refresh_token_metadata"),
    load_sql("derived/refresh_requests"),
    load_sql("derived/refresh_superseded_calls"),
    load_sql("derived/refresh_superseded_delete"),
    load_sql("derived/refresh_calls"),
    # this slice's calls, per token
    "INSERT INTO token_calls SELECT *, $to_batch FROM refresh_new_calls",
    load_sql("derived/refresh_relinked_calls"),
    load_sql("derived/refresh_call_minutes"),
    load_sql("derived/refresh_failures"),
)
_REFRESH_TEMP_TABLES = ("refresh_linked", "refresh_superseded", "refresh_new_calls")


def linked_spans_sql(trace_spans: str, body: str) -> str:
    """SQL text: ``WITH RECURSIVE <trace_spans>, <linking> <body>``.

    ``trace_spans`` defines the ``trace_spans`` CTE (the spans to link, with their
    ``known_token_id``; see linking.sql) and ``body`` continues the statement over
    ``linked_spans``. Only the backend's own SQL text is joined; values stay parameters.
    """
    return (
        "WITH RECURSIVE\n"
        + trace_spans.strip()
        + ",\n"
        + load_sql("derived/linking").strip()
        + "\n"
        + body.strip()
    )


# The linked spans of the slice (and of the link state of its traces), materialised for the
# linked statements of the slice.
_REFRESH_LINKED = "CREATE OR REPLACE TEMP TABLE refresh_linked AS\n" + linked_spans_sql(
    load_sql("derived/refresh_trace_spans"), load_sql("derived/refresh_linked")
)
_LINK_STATE = load_sql("derived/refresh_link_state")


@dataclass(frozen=True)
class DerivedSlice:
    """One slice: the batches ``from_batch < batch_id <= to_batch``, derived in one
    transaction. Its rows in ``token_requests``, ``token_calls`` and ``token_failures`` carry
    ``slice_batch = to_batch``."""

    from_batch: int
    to_batch: int


def refresh_derived(
    cursor: duckdb.DuckDBPyConnection,
    *,
    slice_spans: int = REFRESH_SLICE_SPANS,
    max_slices: int | None = None,
    expire_through_batch: int = 0,
) -> int:
    """Derive the per-token rows of every batch committed before this call.

    Returns the number of batches processed. Each slice is one transaction, so readers see
    the derived tables either before or after a slice, never half of one. Batches committed
    during the call are left to the next one: chasing the writer would keep a refresh
    running for as long as ingest lasts. With ``max_slices``, stop after that many slices
    (the rest stays for the next call): a bounded piece of work for a busy moment. The link
    state drops what arrived in batches up to ``expire_through_batch``.
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
        # The slice: whole batches, about slice_spans spans (at least one batch).
        end = batch_range_end(cursor, from_batch, until_batch, slice_spans)
        if end is None:
            return processed
        to_batch = end
        _refresh_slice(cursor, DerivedSlice(from_batch, to_batch), expire_through_batch)
        processed += to_batch - from_batch
        slices += 1
    return processed


def _refresh_slice(
    cursor: duckdb.DuckDBPyConnection,
    derived: DerivedSlice,
    expire_through_batch: int,
) -> None:
    parameters: dict[str, Any] = {
        "from_batch": derived.from_batch,
        "to_batch": derived.to_batch,
        "expire_through_batch": expire_through_batch,
    }
    cursor.execute("BEGIN TRANSACTION")
    try:
        with _no_build_side_flip(cursor):
            run(cursor, _REFRESH_LINKED, parameters)
            for statement in _REFRESH_STATEMENTS:
                run(cursor, statement, parameters)
            run_script(cursor, _LINK_STATE, parameters)
        cursor.execute(
            "UPDATE derived_state SET last_batch_id = $to_batch WHERE name = 'token_tables'",
            {"to_batch": derived.to_batch},
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
    """Keeps the derived tables caught up; one refresh at a time per process.

    It remembers when each refresh ran and which batch it reached, so that the link state
    can drop what arrived longer than the link window ago (after a restart, nothing is
    dropped until a window has passed).
    """

    def __init__(
        self,
        *,
        link_window_seconds: float = LINK_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._link_window = link_window_seconds
        self._clock = clock
        self._reached: deque[tuple[float, int]] = deque()  # (when, last batch derived)

    def catch_up(
        self,
        cursor: duckdb.DuckDBPyConnection,
        *,
        compact: bool = False,
        max_spans: int | None = None,
    ) -> int:
        """Refresh if batches were written since the last refresh; returns batches processed.

        With ``compact``, also rewrite sorted the tables whose unsorted tail grew enough
        (seconds on large tables: for background work). With ``max_spans``, derive only
        one slice of about that many spans (whole batches) and leave the rest for later.
        """
        with self._lock:
            options: dict[str, Any] = {
                "expire_through_batch": self._expired_batch(),
            }
            if max_spans is not None:
                options |= {"slice_spans": max_spans, "max_slices": 1}
            processed = refresh_derived(cursor, **options)
            if processed:
                row = cursor.execute(
                    "SELECT last_batch_id FROM derived_state WHERE name = 'token_tables'"
                ).fetchone()
                self._reached.append((self._clock(), int(row[0]) if row else 0))
            if compact:
                compact_if_due(cursor)
            return processed

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold off refreshes while another writer of the derived tables runs (a registered
        lifecycle event, lifecycle_registration.py): a slice updates ``token_dim`` too, and
        DuckDB aborts one of two transactions that update the same row."""
        with self._lock:
            yield

    def _expired_batch(self) -> int:
        """The last batch that arrived longer than the link window ago (0: none known)."""
        horizon = self._clock() - self._link_window
        expired = 0
        while self._reached and self._reached[0][0] <= horizon:
            expired = self._reached.popleft()[1]
        if expired:  # keep the boundary for the next call
            self._reached.appendleft((horizon, expired))
        return expired


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
