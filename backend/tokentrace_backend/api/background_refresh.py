"""Keeps the derived per-token tables caught up in the background while the app runs.

Requests catch up on their own before reading (so answers are always fresh); this thread
does the work between requests, so a request rarely has to do much, and it alone compacts
the derived tables (sorted by token), which takes seconds on large ones. When it runs is
decided by :class:`~.refresh_schedule.RefreshSchedule`: freely while the writer is idle,
at a bounded duty cycle while it is busy.
"""

from __future__ import annotations

import logging
import threading
import time

from tokentrace_backend.queries import DerivedTables

from .database import ReadableDatabase
from .refresh_schedule import IngestActivity, RefreshSchedule

logger = logging.getLogger(__name__)

# How often the thread looks at the writer's activity (cheap: one attribute read).
POLL_SECONDS = 0.05


class BackgroundRefresh:
    """A thread calling ``derived.catch_up`` whenever ``schedule`` says so, until stopped."""

    def __init__(
        self,
        database: ReadableDatabase,
        derived: DerivedTables,
        schedule: RefreshSchedule,
        activity: IngestActivity | None = None,
    ) -> None:
        self._database = database
        self._derived = derived
        self._schedule = schedule
        self._activity = activity
        self._poll = min(POLL_SECONDS, schedule.interval)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tokentrace-derived-refresh")

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            idle = None if self._activity is None else self._activity.idle_seconds()
            if not self._schedule.due(time.monotonic(), idle):
                continue
            limit = None if self._schedule.is_idle(idle) else self._schedule.busy_slice_spans
            started = time.monotonic()
            try:
                with self._database.reader() as cursor:
                    self._derived.catch_up(cursor, compact=True, max_spans=limit)
            except Exception:  # keep serving: the next request retries the catch-up itself
                logger.exception("refreshing the derived per-token tables failed")
            self._schedule.record(started, time.monotonic())
