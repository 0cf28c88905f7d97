"""Keeps the derived per-token tables caught up in the background while the app runs.

Requests catch up on their own before reading (so answers are always fresh); this thread
does the work between requests, so under steady ingest a request rarely has to, and it
alone compacts the derived tables (sorted by token), which takes seconds on large ones.
"""

from __future__ import annotations

import logging
import threading

from tokentrace_backend.queries import DerivedTables

from .database import ReadableDatabase

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 1.0


class BackgroundRefresh:
    """A thread calling ``derived.catch_up`` every ``interval`` seconds until stopped."""

    def __init__(
        self,
        database: ReadableDatabase,
        derived: DerivedTables,
        interval: float = DEFAULT_INTERVAL_SECONDS,
    ) -> None:
        self._database = database
        self._derived = derived
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tokentrace-derived-refresh")

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with self._database.reader() as cursor:
                    self._derived.catch_up(cursor, compact=True)
            except Exception:  # keep serving: the next request retries the catch-up itself
                logger.exception("refreshing the derived per-token tables failed")
