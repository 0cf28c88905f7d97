"""A tokentrace database in a DuckLake shared by several nodes.

Each node is a DuckDB process (in memory) that attaches the lake: the tables' rows are
Parquet files under the data path, and their catalog (which files make which table at
which snapshot) is in PostgreSQL. A commit is a catalog transaction, so every node sees
what any node committed as soon as its commit returns; the writer acknowledges spans only
then (lake mode keeps no local journal: a node killed with SIGKILL holds nothing that the
lake does not).

What one writer per database gave the embedded file, the nodes get from PostgreSQL
advisory locks (``locks``): migrations run one node at a time, batch numbers follow commit
order, audit appends are serialised, and one node (the leader) runs the work done once
per lake.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Final

import duckdb

from tokentrace_backend.storage.batch_numbering import BatchNumbering
from tokentrace_backend.storage.cluster import ClusterLock, RemoteLock
from tokentrace_backend.storage.conflicts import retry_on_conflict
from tokentrace_backend.storage.database import Database
from tokentrace_backend.storage.migrations import apply_migrations, lake_dialect
from tokentrace_backend.storage.opening import LakeUnavailable

from .extensions import CONNECTION_CONFIG, ExtensionMissing, load_extensions
from .location import LakeLocation
from .locks import AdvisoryLock, Leadership, SequencedBatches

logger = logging.getLogger(__name__)

LAKE_NAME: Final = "lake"  # the attached catalog's name in every node's DuckDB
# How often the leader compacts the lake: merges small Parquet files, expires snapshots
# and deletes the files no snapshot needs (DuckLake's CHECKPOINT).
MAINTENANCE_SECONDS: Final = 120.0
# DuckLake keeps every snapshot (time travel) and every file until told: deleted rows (of
# retention, of an erasure) would stay readable ``AT (VERSION => n)`` and on disk. The
# leader's maintenance expires snapshots older than this (nothing here reads an older
# version) and removes the files they alone used, once no query can still be reading them.
#
# No rows are inlined into the catalog (DuckLake's default keeps inserts of up to 10 rows
# in PostgreSQL tables): deleted inlined rows stayed in those tables after an erasure's
# purge, and flushing them while the leader's stages ran crashed DuckDB 1.5.5 ("Attempted
# to access index 0 within vector of size 0", the database invalidated). Every commit
# writes a Parquet file instead; the maintenance merges the small ones.
LAKE_OPTIONS: Final = {
    "expire_older_than": "5 minutes",
    "delete_older_than": "5 minutes",
    "data_inlining_row_limit": "0",
}


class LakeDatabase(Database):
    """The tables in the lake at ``location``, migrated on first use."""

    def __init__(
        self,
        location: LakeLocation,
        *,
        memory_limit: str | None = None,
        threads: int | None = None,
    ) -> None:
        self.location = location
        self.path = Path(location.data_path)
        self.path.mkdir(parents=True, exist_ok=True)
        config = dict(CONNECTION_CONFIG)
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        if threads is not None:
            config["threads"] = threads
        connection = duckdb.connect(":memory:", config=config)
        try:
            load_extensions(connection)
        except (ExtensionMissing, duckdb.Error) as error:
            connection.close()
            raise LakeUnavailable(str(error)) from None
        self._locks = {name: AdvisoryLock(location.catalog, name) for name in _LOCK_NAMES}
        try:
            schema = ClusterLock("schema")
            schema.bind(self._locks["schema"])
            with schema:  # one node creates and migrates at a time
                connection.execute(
                    f"ATTACH 'ducklake:postgres:{location.catalog}' AS {LAKE_NAME} "
                    f"(DATA_PATH '{location.data_path}')"
                )
                connection.execute(f"USE {LAKE_NAME}")
                applied = apply_migrations(connection, lake_dialect)
                for option, value in LAKE_OPTIONS.items():
                    connection.execute(f"CALL {LAKE_NAME}.set_option('{option}', '{value}')")
        except Exception as error:
            connection.close()
            self._close_locks()
            raise LakeUnavailable(location.scrubbed(f"{location.shown()}: {error}")) from None
        if applied:
            logger.info("lake schema migrated: %s", applied)
        self._adopt(connection)
        self._leadership = Leadership(self._locks["leader"])
        self._batches = SequencedBatches(self._locks["batches"])
        self._maintained = time.monotonic()

    def describe(self) -> str:
        return self.location.shown()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = super().cursor()
        cursor.execute(f"USE {LAKE_NAME}")  # a cursor starts in the in-memory catalog
        return cursor

    def leads(self) -> bool:
        return self._leadership.leads()

    def batch_numbering(self) -> BatchNumbering:
        return self._batches

    def cluster_lock(self, name: str) -> RemoteLock | None:
        return self._locks[name]

    def data_version(self, cursor: duckdb.DuckDBPyConnection) -> int | None:
        """The lake's current snapshot id: every node's commit moves it."""
        row = cursor.execute("SELECT * FROM ducklake_current_snapshot(?)", [LAKE_NAME]).fetchone()
        return None if row is None else int(row[0])

    def checkpoint(self) -> None:
        """Nothing to fold: each commit is already in the lake (maintenance is
        :meth:`maintain`, by the leader)."""

    def maintain(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Every ``MAINTENANCE_SECONDS``, on the leader: compact the lake (a stage of the
        background refresh). A conflict with a node's commit is retried next time."""
        now = time.monotonic()
        if now - self._maintained < MAINTENANCE_SECONDS or not self.leads():
            return
        self._maintained = now
        try:
            cursor.execute("CHECKPOINT")
        except duckdb.TransactionException as error:
            logger.warning("lake maintenance deferred: %s", error)

    def purge_deleted(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Make deleted rows unreadable now, not at the next maintenance (after an
        erasure): rewrite every data file that has deletions, expire every older
        snapshot, remove the files no snapshot uses. A query of another node still
        reading a removed file fails and can be asked again."""

        def purge() -> None:
            cursor.execute(
                f"CALL ducklake_rewrite_data_files('{LAKE_NAME}', delete_threshold => 0)"
            )
            cursor.execute(f"CALL ducklake_expire_snapshots('{LAKE_NAME}', older_than => now())")
            cursor.execute(f"CALL ducklake_cleanup_old_files('{LAKE_NAME}', cleanup_all => true)")

        retry_on_conflict(purge, what="purging deleted rows from the lake")

    def close(self) -> None:
        super().close()
        self._leadership.close()
        self._close_locks()

    def _close_locks(self) -> None:
        for lock in self._locks.values():
            lock.close()


_LOCK_NAMES: Final = ("schema", "batches", "audit-append", "leader")
