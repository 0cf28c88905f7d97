"""The DuckDB database file: one connection per process, shared by the writer and readers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

import duckdb

from tokentrace_backend.storage.batch_numbering import BatchNumbering, LocalBatchNumbering
from tokentrace_backend.storage.cluster import RemoteLock
from tokentrace_backend.storage.journal import journal_path
from tokentrace_backend.storage.migrations import apply_migrations


def stored_files(db_path: Path) -> list[Path]:
    """Every file that holds data of the database at ``db_path``: the DuckDB file, its
    write-ahead log and spill files, and the ingest journal's segments (for a backup, or
    for a test that searches what was stored)."""
    db_path = Path(db_path)
    beside = [path for path in db_path.parent.glob(db_path.name + "*") if path.is_file()]
    journal = sorted(path for path in journal_path(db_path).glob("*") if path.is_file())
    return sorted(beside) + journal


class ReadableDatabase(Protocol):
    """What readers (the API, the derived tables' refresh) need of a database: cursors."""

    def reader(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A cursor for read queries, closed on exit."""
        ...


class Database:
    """Opens (creating if needed) a tokentrace DuckDB file and brings its schema up to date.

    DuckDB wants one connection per process; threads each take a ``cursor()`` of it. All
    writes go through the single :class:`~tokentrace_backend.storage.writer.SpanWriter`;
    everything else reads through :meth:`reader`.

    :class:`~tokentrace_backend.storage.lake.LakeDatabase` is the same for a lake that
    several processes share; the methods below say what differs between the two.
    """

    def __init__(
        self,
        path: Path,
        *,
        memory_limit: str | None = None,
        checkpoint_threshold: str | None = None,
        threads: int | None = None,
    ) -> None:
        """``memory_limit``, ``checkpoint_threshold`` and ``threads`` are DuckDB's
        (``640MB``, ``128MB``, ``1``, say); None leaves DuckDB's default."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, str | bool | int | float | list[str]] = {}
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        if checkpoint_threshold is not None:
            config["checkpoint_threshold"] = checkpoint_threshold
        if threads is not None:
            config["threads"] = threads
        self._adopt(duckdb.connect(str(self.path), config=config))
        apply_migrations(self._connection)

    def _adopt(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection
        self._closed = False
        self._lock = threading.Lock()

    def describe(self) -> str:
        """Where the data is, for the start-up line and errors."""
        return f"database {self.path}"

    def leads(self) -> bool:
        """Whether this process runs the work done once per database: deriving,
        detecting, alerting, the audit follower, retention. Always, for a file."""
        return True

    def batch_numbering(self) -> BatchNumbering:
        """How the writer numbers its commits (one writer: a counter)."""
        return LocalBatchNumbering()

    def cluster_lock(self, name: str) -> RemoteLock | None:
        """The lock ``name`` shared with other processes; None when this process is the
        only one (``storage.cluster``)."""
        return None

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for read queries, usable from any thread; closed on exit."""
        cursor = self.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor of the process's connection (the writer keeps one for itself)."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"database {self.path} is closed")
            return self._connection.cursor()

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file."""
        with self.reader() as cursor:
            cursor.execute("CHECKPOINT")

    def data_version(self, cursor: duckdb.DuckDBPyConnection) -> int | None:
        """A number that changes with every commit, when one is cheap to read (lets the
        background refresh skip rounds while nothing changed); None for a file, whose own
        "anything new?" queries cost microseconds."""
        return None

    def invalidated(self) -> bool:
        """Whether DuckDB has stopped serving this database after a fatal error (every
        query fails until the process opens it again)."""
        try:
            with self.reader() as cursor:
                cursor.execute("SELECT 1").fetchall()
        except duckdb.FatalException:
            return True
        except duckdb.Error:
            return False  # something else (a catalog away): not this
        return False

    def maintain(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Periodic upkeep, a stage of the background refresh: nothing for a file (DuckDB
        checkpoints it by itself)."""

    def purge_deleted(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Make rows deleted so far unreadable by any means the database offers (after an
        erasure): nothing to do for a file, which keeps no older versions; a lake does
        (time travel)."""

    def close(self) -> None:
        """Close the connection (idempotent). Committed data is already durable."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._connection.close()
