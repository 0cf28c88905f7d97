"""Keeps the derived per-token tables caught up in the background while the server runs,
and decides when, given the writer's activity.

The API reads the derived tables as this thread leaves them (requests never derive), so
how often it runs is how fresh the answers are. A refresh costs CPU in proportion to the
spans it derives (plus a fixed cost per slice, tens of milliseconds: about a dozen
statements), and during heavy ingest it competes with decoding and the writer for the same
cores:

- when the writer has been idle for ``idle_after`` seconds, the refresh runs (at most once
  per ``interval``), catching up with everything written;
- while the writer is busy, each refresh derives at most ``busy_slice_spans`` spans, and
  it runs at most ``busy_duty`` of the wall-clock time: after a refresh that took ``t``
  seconds, the next one waits ``t * (1 - busy_duty) / busy_duty`` (and at least
  ``interval``). Capping the work per refresh bounds the memory and the duty cycle.

At the defaults a refresh follows ingest within about a second (docs/backend.md#freshness).
The same thread alone compacts the derived tables (sorted by token).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import duckdb

from tokentrace_backend.derived.refresh import DerivedTables
from tokentrace_backend.storage.conflicts import log_failure
from tokentrace_backend.storage.database import ReadableDatabase

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 0.25
DEFAULT_IDLE_AFTER_SECONDS = 0.3
DEFAULT_BUSY_DUTY = 1.0
DEFAULT_BUSY_SLICE_SPANS = 200_000


class IngestActivity(Protocol):
    """What the refresh needs to know of the writer (``SpanWriter`` provides it)."""

    def idle_seconds(self) -> float:
        """Seconds since the writer last had work; 0.0 while spans are queued or written."""
        ...


class RefreshSchedule:
    """Decides whether the background refresh is due; clock values are ``time.monotonic()``."""

    def __init__(
        self,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        idle_after: float = DEFAULT_IDLE_AFTER_SECONDS,
        busy_duty: float = DEFAULT_BUSY_DUTY,
        busy_slice_spans: int = DEFAULT_BUSY_SLICE_SPANS,
    ) -> None:
        if not 0.0 < busy_duty <= 1.0:
            raise ValueError(f"busy_duty must be in (0, 1], not {busy_duty}")
        self.interval = interval
        self.idle_after = idle_after
        self.busy_duty = busy_duty
        self.busy_slice_spans = busy_slice_spans
        self._last_end = float("-inf")
        self._next_busy = float("-inf")

    def is_idle(self, idle_seconds: float | None) -> bool:
        """Whether the writer counts as idle; ``None`` means no writer to defer to."""
        return idle_seconds is None or idle_seconds >= self.idle_after

    def due(self, now: float, idle_seconds: float | None) -> bool:
        """Whether to refresh now (bounded by ``busy_slice_spans`` unless idle)."""
        if now < self._last_end + self.interval:
            return False
        return self.is_idle(idle_seconds) or now >= self._next_busy

    def record(self, started: float, ended: float) -> None:
        """Note a refresh that ran from ``started`` to ``ended``."""
        spent = max(ended - started, 0.0)
        self._last_end = ended
        self._next_busy = ended + max(
            self.interval, spent * (1.0 - self.busy_duty) / self.busy_duty
        )


# How often the thread looks at the writer's activity (cheap: one attribute read).
POLL_SECONDS = 0.05
# How often the stages after the refresh (detectors, audit, retention) look for new work.
STAGE_INTERVAL_SECONDS = 0.25
# The longest a database whose version did not move goes without a round.
QUIET_ROUND_SECONDS = 10.0


class BackgroundRefresh:
    """A thread calling ``derived.catch_up`` whenever ``schedule`` says so, until stopped.

    After each refresh it calls each of ``followers`` with the same cursor (cheap
    bookkeeping, such as the metrics' time of the last refresh). The ``stages`` that read
    what the refresh derived (the detectors, the audit follower, retention) run in a thread
    of their own, every ``STAGE_INTERVAL_SECONDS``, in order: run after each refresh in
    its thread, they delayed the next one (at 80 k spans/s the freshness lag went from
    ~1 s to ~4.5 s). A follower or stage that fails is logged and retried at the next round.

    With ``leads`` (lake mode: whether this node is the lake's leader, ``storage.lake``),
    the refresh, its followers and the stages run only while it returns True: the tables
    are derived once per lake, and every node reads them. The ``observers`` (read-only:
    the dashboards' change feed) run after the stages on every node, leader or not.

    With ``data_version`` (``Database.data_version``: a lake's snapshot id, one catalog
    query), a round is skipped while the version stays what it was after the last one, for
    up to ``QUIET_ROUND_SECONDS`` (time-based work, retention say, still runs): every query
    over a lake costs catalog round trips, and an idle leader polling four times a second
    used 0.49 cores and 150 catalog transactions/s (``benchmarks/lake_query_latency.py``).
    """

    def __init__(
        self,
        database: ReadableDatabase,
        derived: DerivedTables,
        schedule: RefreshSchedule,
        activity: IngestActivity | None = None,
        *,
        followers: Sequence[Callable[[duckdb.DuckDBPyConnection], object]] = (),
        stages: Sequence[Callable[[duckdb.DuckDBPyConnection], object]] = (),
        observers: Sequence[Callable[[duckdb.DuckDBPyConnection], object]] = (),
        leads: Callable[[], bool] | None = None,
        data_version: Callable[[duckdb.DuckDBPyConnection], int | None] | None = None,
    ) -> None:
        self._database = database
        self._derived = derived
        self._schedule = schedule
        self._activity = activity
        self._followers = tuple(followers)
        self._stages = tuple(stages)
        self._observers = tuple(observers)
        self._leads = leads
        self._data_version = data_version
        self._seen_version: int | None = None
        self._last_round = float("-inf")
        self._refreshed = threading.Event()  # set by each refresh, taken by the stages
        self._poll = min(POLL_SECONDS, schedule.interval)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tokentrace-derived-refresh")
        self._stage_thread = threading.Thread(target=self._run_stages, name="tokentrace-stages")

    def start(self) -> None:
        self._thread.start()
        if self._stages or self._observers:
            self._stage_thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in (self._thread, self._stage_thread):
            if thread.is_alive():
                thread.join(timeout)

    def _run_stages(self) -> None:
        """After each refresh (at most every STAGE_INTERVAL_SECONDS), the stages in order:
        they read what the refreshes derived, never ahead of them."""
        while not self._stop.is_set():
            if not self._refreshed.wait(STAGE_INTERVAL_SECONDS):
                continue
            self._refreshed.clear()
            if self._stop.wait(STAGE_INTERVAL_SECONDS):
                return
            stages = self._stages if self._leading() else ()
            try:
                with self._database.reader() as cursor:
                    for stage in (*stages, *self._observers):
                        try:
                            stage(cursor)
                        except Exception as error:  # the others go on; it retries next round
                            log_failure(logger, error, str(stage))
            except Exception:
                logger.exception("the stages after the refresh failed")

    def _leading(self) -> bool:
        try:
            return self._leads is None or self._leads()
        except Exception:  # the catalog is away: do nothing that would write
            logger.exception("cannot tell whether this node leads")
            return False

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            idle = None if self._activity is None else self._activity.idle_seconds()
            if not self._schedule.due(time.monotonic(), idle):
                continue
            limit = None if self._schedule.is_idle(idle) else self._schedule.busy_slice_spans
            started = time.monotonic()
            try:
                with self._database.reader() as cursor:
                    self._round(cursor, started, limit)
            except Exception as error:  # keep serving: the next round retries
                log_failure(logger, error, "refreshing the derived per-token tables")
            self._schedule.record(started, time.monotonic())

    def _round(self, cursor: duckdb.DuckDBPyConnection, started: float, limit: int | None) -> None:
        """One round: nothing when the database has not changed since the last one (and
        the last was less than ``QUIET_ROUND_SECONDS`` ago); else the refresh (on the
        leader), its followers, then the stages and observers in their thread."""
        version = None if self._data_version is None else self._data_version(cursor)
        if (
            version is not None
            and version == self._seen_version
            and started - self._last_round < QUIET_ROUND_SECONDS
        ):
            for follower in self._followers:  # bookkeeping: the tables are as fresh as ever
                follower(cursor)
            return
        self._last_round = started
        if self._leading():
            self._derived.catch_up(cursor, compact=True, max_spans=limit)
            for follower in self._followers:
                try:
                    follower(cursor)
                except Exception as error:  # the refresh goes on; it retries next time
                    log_failure(logger, error, f"{follower} after a refresh")
        self._refreshed.set()  # the stages (leader) and observers (every node) look next
        # What the stages write changes the version too: the round after them runs again,
        # finds nothing new, writes nothing, and the one after that is quiet.
        self._seen_version = version
