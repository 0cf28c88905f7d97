"""Write batch numbers: the order in which commits of spans became visible.

Every stage that follows the writer (the derived tables, the detectors, the alerts'
metrics, the audit trail) reads "the batches after the last one I saw". That is only right
when a batch number, once visible, is above every number that becomes visible later. One
writer per database (embedded mode) gives that with a counter; the nodes of a lake take
their numbers from :class:`~tokentrace_backend.storage.lake.locks.SequencedBatches`,
which holds a cluster-wide lock from drawing a number to the commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Protocol

import duckdb

LAST_BATCH_ID = "SELECT coalesce(max(batch_id), 0) FROM spans"


class BatchNumbering(Protocol):
    """Hands the writer the number of its next commit."""

    def start(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Resume after the highest batch the database holds."""
        ...

    def turn(self) -> AbstractContextManager[None]:
        """The writer's turn to take a group and commit it (re-entrant): in a lake, no
        other node commits meanwhile."""
        ...

    def next_batch(self) -> AbstractContextManager[int]:
        """The next batch number, reserved until the block ends; commit inside it."""
        ...


class LocalBatchNumbering:
    """The single writer's counter: max(batch_id) at start, then +1 per commit that
    succeeded (a failed commit leaves its number to the next)."""

    def __init__(self) -> None:
        self._last = 0

    def start(self, cursor: duckdb.DuckDBPyConnection) -> None:
        row = cursor.execute(LAST_BATCH_ID).fetchone()
        self._last = int(row[0]) if row else 0

    def turn(self) -> AbstractContextManager[None]:
        return nullcontext()  # one writer: always its turn

    @contextmanager
    def next_batch(self) -> Iterator[int]:
        batch_id = self._last + 1
        yield batch_id
        self._last = batch_id
