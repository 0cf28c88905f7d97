"""The retention job: roll up the derived rows of the days about to expire, then delete the
expired spans, derived rows and detector profiles, a chunk at a time.

One run, at ``now_ns`` (wall clock), with ``before_ns`` the start of the UTC day that was
``spans`` (``--retention``) ago, so that whole days expire:

1. each day of event time that still has rows in ``token_requests``, ``token_calls`` or
   ``token_failures`` before ``before_ns`` is rolled up into the daily roll-ups and its rows
   deleted, in one transaction per day (``rollup_day.sql``) that also moves the boundary
   past the day: an answer counts every row once, from the derived tables or from the
   roll-ups, at any moment. Spans that arrive late for
   an expired day are derived as usual and rolled up by the next run (roll-up rows add up);
2. the spans before ``before_ns`` that the derived tables have read (``batch_id`` at most
   their watermark) are deleted, ``CHUNK_SPANS`` at a time, each chunk its own transaction,
   so that the writer's commits go on in between; spans not derived yet wait for a later run;
3. the global graph's minutes, the link state and the detectors' profiles before
   ``before_ns``, and the roll-ups older than ``rollups`` (``--rollup-retention``), are
   deleted and the boundary recorded (``retention_state``, read by the token summary).

A run stops after ``budget_seconds`` (it runs in the background refresh thread, which it
holds up meanwhile; each step does at least one day or chunk) and a later call goes on
where it stopped, after three times as long (``duty``: a quarter of the time); when a run
is complete, the next one waits ``interval_seconds``.
Resources no longer referenced stay (they are few and shared). ``token_dim``,
``token_lifecycle`` and ``findings`` are kept: a token's identity, its lifecycle and what
was found about it are not raw spans.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any, Final

import duckdb

from tokentrace_backend.storage.sql import load_sql, run

logger = logging.getLogger(__name__)

DAY_NS: Final = 86_400 * 1_000_000_000
CHUNK_SPANS: Final = 50_000
"""Spans deleted per transaction: large enough that a run's fixed costs stay small, small
enough that one delete holds DuckDB's commit for milliseconds, not seconds."""
BUDGET_SECONDS: Final = 1.0
"""Longest a run holds the background refresh thread; the rest waits for the next call."""
DUTY: Final = 0.25
"""Share of the wall-clock time a run that is not finished within its budget takes: it
resumes after three times as long as it ran. Retention is not urgent, ingest and the
refresh are (measured in docs/retention.md)."""
CHUNK_PAUSE_SECONDS: Final = 0.005
"""Pause between two chunks, so that the writer's commit never waits behind a stream of them."""


@dataclass
class RetentionRun:
    """What one run did: the boundary, and how many rows it rolled up and deleted."""

    expired_before_ns: int
    days_rolled_up: int = 0
    spans_deleted: int = 0
    derived_rows_deleted: int = 0
    other_rows_deleted: int = 0  # graph minutes, link state, profiles, old roll-ups
    complete: bool = True  # False: the budget ran out, the next call goes on

    def counts(self) -> dict[str, int | bool]:
        """The run as a JSON object of integers (an audit record's body)."""
        return asdict(self)

    @property
    def did_something(self) -> bool:
        return bool(
            self.days_rolled_up
            or self.spans_deleted
            or self.derived_rows_deleted
            or self.other_rows_deleted
        )


RunReport = Callable[[duckdb.DuckDBPyConnection, RetentionRun], None]
"""Called with each run that deleted or rolled up anything (the audit trail's hook)."""


@dataclass
class Retention:
    """The periodic retention job; call it with a cursor (a follower of the background
    refresh, ``derived.background``).

    ``exclusive`` holds off other writers of the derived tables while a day is rolled up
    (``DerivedTables.exclusive``); ``report`` is told of each run that changed something.
    """

    spans: timedelta = timedelta(days=14)
    rollups: timedelta = timedelta(days=400)
    interval_seconds: float = 60.0
    budget_seconds: float = BUDGET_SECONDS
    duty: float = DUTY
    chunk_spans: int = CHUNK_SPANS
    exclusive: Callable[[], AbstractContextManager[None]] = nullcontext
    report: RunReport | None = None
    clock: Callable[[], int] = time.time_ns
    _next_run: float = field(default=float("-inf"), init=False)

    def __call__(self, cursor: duckdb.DuckDBPyConnection) -> RetentionRun | None:
        """Run if due (at most every ``interval_seconds`` once a run completes)."""
        started = time.monotonic()
        if started < self._next_run:
            return None
        result = self.run(cursor, self.clock())
        ended = time.monotonic()
        if result.complete:
            self._next_run = ended + self.interval_seconds
        else:  # resume later: at most ``duty`` of the time goes to an unfinished run
            self._next_run = ended + (ended - started) * (1.0 - self.duty) / self.duty
        return result

    def run(self, cursor: duckdb.DuckDBPyConnection, now_ns: int) -> RetentionRun:
        """One run at ``now_ns`` (unix ns), within the budget."""
        deadline = time.monotonic() + self.budget_seconds
        before_ns = (now_ns - _ns(self.spans)) // DAY_NS * DAY_NS
        rollups_before_day = (now_ns - _ns(self.rollups)) // DAY_NS
        result = RetentionRun(expired_before_ns=before_ns)
        parameters = {"before_ns": before_ns, "rollups_before_day": rollups_before_day}
        expired_days = run(cursor, load_sql("retention/expired_days"), parameters).fetchall()
        days = [int(day) for (day,) in expired_days]
        for day in days:
            if result.days_rolled_up and time.monotonic() >= deadline:
                result.complete = False
                break
            day_parameters = parameters | {
                "day_start_ns": day * DAY_NS,
                "day_end_ns": (day + 1) * DAY_NS,
            }
            with self.exclusive():
                counts = _in_transaction(cursor, load_sql("retention/rollup_day"), day_parameters)
            result.days_rolled_up += 1
            result.derived_rows_deleted += sum(counts[3:6])  # the three DELETEs
        if result.complete:
            result.spans_deleted, result.complete = self._delete_spans(cursor, before_ns, deadline)
        if result.complete:
            with self.exclusive():
                counts = _in_transaction(cursor, load_sql("retention/expire_rest"), parameters)
            result.other_rows_deleted = sum(counts[:-1])
        if result.did_something:
            logger.info("retention run: %s", result.counts())
            if self.report is not None:
                self.report(cursor, result)
        return result

    def _delete_spans(
        self, cursor: duckdb.DuckDBPyConnection, before_ns: int, deadline: float
    ) -> tuple[int, bool]:
        """Delete the expired spans the derived tables have read; (deleted, complete)."""
        batches = run(
            cursor, load_sql("retention/expired_span_batches"), {"before_ns": before_ns}
        ).fetchall()
        deleted = 0
        for first, last in _chunks(batches, self.chunk_spans):
            if deleted and time.monotonic() >= deadline:
                return deleted, False
            row = cursor.execute(
                "DELETE FROM spans WHERE batch_id BETWEEN $first AND $last AND start_ns < $before",
                {"first": first, "last": last, "before": before_ns},
            ).fetchone()
            deleted += int(row[0]) if row else 0
            time.sleep(CHUNK_PAUSE_SECONDS)
        return deleted, True


def _chunks(batches: list[tuple[Any, ...]], chunk_spans: int) -> Iterator[tuple[int, int]]:
    """(first, last) batch ranges holding about ``chunk_spans`` of the spans each."""
    first: int | None = None
    held = 0
    for batch_id, spans in batches:
        if first is None:
            first = int(batch_id)
        held += int(spans)
        if held >= chunk_spans:
            yield first, int(batch_id)
            first, held = None, 0
    if first is not None:
        yield first, int(batches[-1][0])


def _in_transaction(
    cursor: duckdb.DuckDBPyConnection, sql: str, parameters: dict[str, Any]
) -> list[int]:
    """Run the statements of ``sql`` in one transaction; the row count of each."""
    counts = []
    cursor.execute("BEGIN TRANSACTION")
    try:
        for statement in sql.split(";"):
            if statement.strip():
                row = run(cursor, statement, parameters).fetchone()
                counts.append(int(row[0]) if row else 0)
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise
    return counts


def _ns(age: timedelta) -> int:
    return int(age.total_seconds()) * 1_000_000_000
