"""The single writer: the only code that writes spans into DuckDB.

Request handlers submit decoded spans and wait; one thread takes everything queued (up to
``batch_spans``), writes it in one transaction, commits (DuckDB syncs its write-ahead log
on commit), and only then completes the handlers' futures, so an acknowledged batch is a
durable one. The queue is bounded in spans: :meth:`SpanWriter.submit` raises
:class:`WriterOverloaded` instead of growing memory, and the HTTP layer turns that into 503.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from tokentrace_backend.storage.database import Database
from tokentrace_backend.storage.span_rows import DecodedSpans

logger = logging.getLogger(__name__)

# How long a commit may wait for announced requests (being read or decoded) to arrive.
# A commit has a fixed cost of several ms (measured: 11.5 us/span committing 1,000-span
# requests one by one, 7.2 with 4 per commit, 5.2 with 20), so under load it pays to let
# the requests already in decode join; an idle writer with nothing announced never waits.
DEFAULT_GATHER_SECONDS = 0.02

# The writer's statements. Each commit inserts one Arrow table of decoded spans (registered
# as incoming_spans) stamped with the commit's batch number, and the resources first seen in
# it (the writer skips ids it already knows).
_INSERT_SPANS = (
    "INSERT INTO spans BY NAME SELECT *, CAST(? AS UBIGINT) AS batch_id FROM incoming_spans"
)
_INSERT_RESOURCES = "INSERT OR IGNORE INTO resources BY NAME SELECT * FROM incoming_resources"
_LAST_BATCH_ID = "SELECT coalesce(max(batch_id), 0) FROM spans"  # where the numbering resumes
_KNOWN_RESOURCE_IDS = "SELECT resource_id FROM resources"


class WriterOverloaded(Exception):
    """The writer's queue is full; the caller should ask its client to retry later."""


class WriterClosed(Exception):
    """The writer is shutting down and accepts no more spans."""


@dataclass
class _Pending:
    decoded: DecodedSpans
    future: Future[int] = field(default_factory=Future)


class SpanWriter:
    """Owns all writes to ``spans`` and ``resources``; batches, commits, then acknowledges."""

    def __init__(
        self,
        database: Database,
        *,
        queue_spans: int = 200_000,
        batch_spans: int = 20_000,
        linger_seconds: float = 0.0,
        gather_seconds: float = DEFAULT_GATHER_SECONDS,
    ) -> None:
        self._database = database
        self._cursor = database.cursor()
        self._queue_spans = queue_spans
        self._batch_spans = batch_spans
        self._linger_seconds = linger_seconds
        self._gather_seconds = gather_seconds
        self._announced = 0
        self._pending: deque[_Pending] = deque()
        self._pending_spans = 0
        self._condition = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="tokentrace-span-writer")
        self._known_resources: set[int] = set()
        self._batch_id = 0
        self._last_finished = time.monotonic()
        self.batches_written = 0
        self.spans_written = 0

    def start(self) -> None:
        """Resume the batch numbering and start the writer thread."""
        row = self._cursor.execute(_LAST_BATCH_ID).fetchone()
        self._batch_id = int(row[0]) if row else 0
        ids = self._cursor.execute(_KNOWN_RESOURCE_IDS).fetchall()
        self._known_resources = {int(resource_id) for (resource_id,) in ids}
        self._thread.start()

    @property
    def queued_spans(self) -> int:
        """Spans accepted but not yet committed."""
        return self._pending_spans

    def idle_seconds(self) -> float:
        """Seconds since the last commit finished; 0.0 while spans are queued or written.

        The API's background refresh defers to ingest with it (``IngestActivity``).
        """
        if self._pending_spans:
            return 0.0
        return max(time.monotonic() - self._last_finished, 0.0)

    def has_room(self) -> bool:
        """Whether a new request could be queued now (checked before decoding one)."""
        return self._pending_spans < self._queue_spans and not self._closing

    def announce(self) -> None:
        """Say that a request is on its way (being read or decoded).

        A commit waits up to ``gather_seconds`` for announced requests, so they share one
        commit. Every announce must be followed by ``submit(..., announced=True)`` or by
        :meth:`withdraw`.
        """
        with self._condition:
            self._announced += 1

    def withdraw(self) -> None:
        """An announced request will not be submitted after all (refused, empty, failed)."""
        with self._condition:
            self._announced -= 1
            self._condition.notify()

    def submit(self, decoded: DecodedSpans, *, announced: bool = False) -> Future[int]:
        """Queue spans for the next commit; the future gives the batch id once durable.

        Raises WriterOverloaded when the queue cannot take ``decoded`` without exceeding
        its bound (a request larger than the whole bound is accepted into an empty queue,
        so a single big export cannot be refused forever). With ``announced``, a queued
        request stops counting as announced; one refused here still counts, and its
        caller withdraws it.
        """
        pending = _Pending(decoded)
        count = decoded.accepted_spans
        with self._condition:
            if self._closing:
                raise WriterClosed("the writer is shutting down")
            if self._pending_spans and self._pending_spans + count > self._queue_spans:
                raise WriterOverloaded(f"{self._pending_spans} spans are waiting to be written")
            self._pending.append(pending)
            self._pending_spans += count
            if announced:
                self._announced -= 1
            self._condition.notify()
        return pending.future

    def close(self, timeout: float | None = 60.0) -> None:
        """Write everything already queued, then stop the thread."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._cursor.close()

    # --- the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            group = self._take_group()
            if not group:
                return
            self._write_group(group)

    def _take_group(self) -> list[_Pending]:
        """Block until there is work; take up to batch_spans spans (at least one request)."""
        with self._condition:
            while not self._pending and not self._closing:
                self._condition.wait()
            if not self._pending:
                return []
            if self._linger_seconds and not self._closing:
                deadline = time.monotonic() + self._linger_seconds
                while self._pending_spans < self._batch_spans and not self._closing:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._condition.wait(remaining)
            if self._gather_seconds and not self._closing:
                deadline = time.monotonic() + self._gather_seconds
                while self._announced > 0 and self._pending_spans < self._batch_spans:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._closing:
                        break
                    self._condition.wait(remaining)
            group: list[_Pending] = []
            taken = 0
            while self._pending and (
                not group or taken + self._pending[0].decoded.accepted_spans <= self._batch_spans
            ):
                item = self._pending.popleft()
                group.append(item)
                taken += item.decoded.accepted_spans
            return group

    def _write_group(self, group: list[_Pending]) -> None:
        try:
            batch_id = self._commit([item.decoded for item in group])
        except Exception as error:  # one bad request must not sink the whole group
            if len(group) == 1:
                logger.exception("writing a batch of spans failed")
                self._finish(group, error=error)
                return
            logger.warning("group commit failed (%s); writing its requests one by one", error)
            for item in group:
                self._write_group([item])
            return
        self._finish(group, batch_id=batch_id)

    def _finish(
        self, group: list[_Pending], *, batch_id: int = 0, error: BaseException | None = None
    ) -> None:
        with self._condition:
            self._pending_spans -= sum(item.decoded.accepted_spans for item in group)
            self._last_finished = time.monotonic()
        for item in group:
            if error is None:
                item.future.set_result(batch_id)
            else:
                item.future.set_exception(error)

    def _commit(self, batch: list[DecodedSpans]) -> int:
        """Write one group in one transaction; returns its batch id once committed."""
        spans = pa.concat_tables([decoded.spans for decoded in batch])
        resources = self._new_resources(batch)
        batch_id = self._batch_id + 1
        cursor = self._cursor
        cursor.execute("BEGIN TRANSACTION")
        try:
            if resources is not None:
                cursor.register("incoming_resources", resources)
                cursor.execute(_INSERT_RESOURCES)
                cursor.unregister("incoming_resources")
            if spans.num_rows:
                cursor.register("incoming_spans", spans)
                cursor.execute(_INSERT_SPANS, [batch_id])
                cursor.unregister("incoming_spans")
            cursor.execute("COMMIT")
        except BaseException:
            _rollback(cursor)
            raise
        self._batch_id = batch_id
        if resources is not None:
            self._known_resources.update(resources.column("resource_id").to_pylist())
        self.batches_written += 1
        self.spans_written += spans.num_rows
        return batch_id

    def _new_resources(self, batch: list[DecodedSpans]) -> pa.Table | None:
        """The resources of this group that the database does not hold yet, deduplicated."""
        rows: dict[int, dict[str, object]] = {}
        for decoded in batch:
            for row in decoded.resources.to_pylist():
                resource_id = int(row["resource_id"])
                if resource_id not in self._known_resources:
                    rows[resource_id] = row
        if not rows:
            return None
        return pa.Table.from_pylist(list(rows.values()), schema=batch[0].resources.schema)


def _rollback(cursor: duckdb.DuckDBPyConnection) -> None:
    try:
        cursor.execute("ROLLBACK")
    except duckdb.Error:
        logger.exception("rollback failed")
