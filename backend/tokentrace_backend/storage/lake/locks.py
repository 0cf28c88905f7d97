"""PostgreSQL advisory locks: the cluster-wide locks and roles of the nodes of a lake.

The catalog database is the one server every node already depends on, so it arbitrates:
a session-level advisory lock is held by one connection at a time and is released by
PostgreSQL when that connection ends, including when its process is killed. Each lock
here has its own connection, so holding one never waits on another.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Final

import duckdb
import psycopg

from tokentrace_backend.storage.cluster import ClusterLock

logger = logging.getLogger(__name__)

# pg_advisory_lock(NAMESPACE, key): "tktr", then one key per lock.
NAMESPACE: Final = 0x746B7472
LOCK_KEYS: Final = {
    "schema": 1,  # migrations and first-start set-up (the audit key)
    "batches": 2,  # drawing a batch number and committing it
    "audit-append": 3,  # the audit chain's head
    "leader": 4,  # the node that derives, detects, alerts, audits, retains
}
BATCH_SEQUENCE: Final = "tokentrace_batch_ids"
CONNECT_TIMEOUT_SECONDS: Final = 10


class AdvisoryLock:
    """One advisory lock over a connection of its own (re-entrancy is the caller's:
    ``storage.cluster.ClusterLock``)."""

    def __init__(self, conninfo: str, name: str) -> None:
        self.name = name
        self._conninfo = conninfo
        self._key = LOCK_KEYS[name]
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._held = False

    def connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(
                self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
            )
        return self._connection

    def acquire(self) -> None:
        """Wait for the lock (a broken connection is replaced once)."""
        for attempt in (1, 2):
            try:
                self.connection().execute("SELECT pg_advisory_lock(%s, %s)", (NAMESPACE, self._key))
                self._held = True
                return
            except psycopg.OperationalError:
                self._drop()
                if attempt == 2:
                    raise

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; False otherwise (or when PostgreSQL is away)."""
        try:
            row = (
                self.connection()
                .execute("SELECT pg_try_advisory_lock(%s, %s)", (NAMESPACE, self._key))
                .fetchone()
            )
        except psycopg.OperationalError:
            self._drop()
            return False
        self._held = bool(row and row[0])
        return self._held

    def still_held(self) -> bool:
        """Whether the session holding the lock is still alive."""
        if not self._held:
            return False
        try:
            self.connection().execute("SELECT 1")
        except psycopg.OperationalError:
            self._drop()
        return self._held

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        try:
            self.connection().execute("SELECT pg_advisory_unlock(%s, %s)", (NAMESPACE, self._key))
        except psycopg.OperationalError:
            self._drop()  # the session is gone, and the lock with it

    def _drop(self) -> None:
        self._held = False
        if self._connection is not None:
            with suppress(psycopg.Error):
                self._connection.close()
        self._connection = None

    def close(self) -> None:
        self._drop()


class Leadership:
    """Whether this node is the one that runs the work that must run once per lake (the
    derived tables' refresh, detection, alerts, the audit follower, retention, lake
    maintenance). The first node to take the ``leader`` lock keeps it until it stops or
    dies; then the next to ask takes over."""

    CHECK_SECONDS: Final = 1.0

    def __init__(self, lock: AdvisoryLock) -> None:
        self._lock = lock
        self._guard = threading.Lock()
        self._leads = False
        self._closed = False
        self._checked = float("-inf")

    def leads(self) -> bool:
        with self._guard:
            if self._closed:  # a stopping node takes no lead
                return False
            now = time.monotonic()
            if now - self._checked < self.CHECK_SECONDS:
                return self._leads
            self._checked = now
            was = self._leads
            self._leads = self._lock.still_held() if was else self._lock.try_acquire()
            if self._leads != was:
                logger.warning(
                    "this node %s the lake's leader", "is now" if self._leads else "is no longer"
                )
            return self._leads

    def close(self) -> None:
        with self._guard:
            self._closed = True
            self._lock.close()
            self._leads = False


class SequencedBatches:
    """Batch numbers in commit order across the nodes: the ``batches`` lock is held for
    the writer's whole turn, from taking its group through drawing a number (a PostgreSQL
    sequence) to the commit, so a number that is visible is above every number that
    becomes visible later. The turn is a :class:`ClusterLock` (re-entrant; the remote lock
    at the outermost level)."""

    def __init__(self, lock: AdvisoryLock) -> None:
        self._lock = lock
        self._turn = ClusterLock("batches")
        self._turn.bind(lock)

    def start(self, cursor: duckdb.DuckDBPyConnection) -> None:
        with self._turn:
            row = cursor.execute("SELECT coalesce(max(batch_id), 0) FROM spans").fetchone()
            first = (int(row[0]) if row else 0) + 1
            self._lock.connection().execute(
                f"CREATE SEQUENCE IF NOT EXISTS {BATCH_SEQUENCE} AS bigint START {first}"
            )

    def turn(self) -> ClusterLock:
        return self._turn

    @contextmanager
    def next_batch(self) -> Iterator[int]:
        with self._turn:
            row = (
                self._lock.connection().execute("SELECT nextval(%s)", (BATCH_SEQUENCE,)).fetchone()
            )
            assert row is not None
            yield int(str(row[0]))
