"""The single writer: the only code that writes spans into DuckDB.

Request handlers submit decoded spans; one thread takes everything queued (up to
``batch_spans``), writes it in one transaction and commits (DuckDB syncs its write-ahead
log on commit). A submission's :class:`Receipt` completes with the batch id once
committed; its ``durable`` future says when the spans can be acknowledged:

- without a journal, when they are committed (the same moment);
- with an :class:`~.journal.IngestJournal`, as soon as their journal record is synced. The
  writer then commits to DuckDB in large groups behind the journal (waiting up to
  ``linger_seconds`` for a group to fill), records in each commit how far into the journal
  it reached, and at start replays what a crash left uncommitted.

The queue is bounded in spans: :meth:`SpanWriter.submit` raises :class:`WriterOverloaded`
instead of growing memory, and the HTTP layer turns that into 503.
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

from tokentrace_backend.storage.conflicts import retry_on_conflict
from tokentrace_backend.storage.database import Database
from tokentrace_backend.storage.journal import (
    IngestJournal,
    decode_record,
    encode_record,
)
from tokentrace_backend.storage.span_rows import DecodedSpans

logger = logging.getLogger(__name__)

# How long a commit may wait for announced requests (being read or decoded) to arrive.
# A commit has a fixed cost of several ms (measured: 11.5 us/span committing 1,000-span
# requests one by one, 7.2 with 4 per commit, 5.2 with 20), so under load it pays to let
# the requests already in decode join; an idle writer with nothing announced never waits.
DEFAULT_GATHER_SECONDS = 0.02

# The writer's statements. Each commit inserts one Arrow table of decoded spans (registered
# as incoming_spans) stamped with the commit's batch number, and the resources first seen in
# it: the writer skips ids it already knows, and the statement those another node of a lake
# stored meanwhile (its commits and ours are serialised by the batch numbering).
_INSERT_SPANS = (
    "INSERT INTO spans BY NAME SELECT *, CAST(? AS UBIGINT) AS batch_id FROM incoming_spans"
)
_INSERT_RESOURCES = (
    "INSERT INTO resources BY NAME SELECT * FROM incoming_resources"
    " WHERE resource_id NOT IN (SELECT resource_id FROM resources)"
)
_KNOWN_RESOURCE_IDS = "SELECT resource_id FROM resources"
_JOURNAL_POSITION = "SELECT position FROM ingest_journal"
_RECORD_POSITION = "UPDATE ingest_journal SET position = ?"

# With a journal, how long a queued request may wait for others to share its commit.
DEFAULT_JOURNAL_LINGER_SECONDS = 0.1
# After failing to take a turn (a lake's catalog away), the writer waits this long.
_NO_TURN_PAUSE_SECONDS = 0.5
# Replayed records are committed in groups of about this many spans.
_REPLAY_GROUP_SPANS = 50_000


class WriterOverloaded(Exception):
    """The writer's queue is full; the caller should ask its client to retry later."""


class WriterClosed(Exception):
    """The writer is shutting down and accepts no more spans."""


class Receipt(Future[int]):
    """A submission: completes with the batch id once its spans are committed to DuckDB;
    ``durable`` completes as soon as they can be acknowledged (see the module's doc)."""

    def __init__(self, durable: Future[None] | None = None) -> None:
        super().__init__()
        self.durable: Future[None] = durable if durable is not None else Future()


@dataclass
class _Pending:
    decoded: DecodedSpans
    receipt: Receipt = field(default_factory=Receipt)
    journal_position: int = 0  # 0: not journaled
    queued_at: float = field(default_factory=time.monotonic)


class SpanWriter:
    """Owns all writes to ``spans`` and ``resources``; batches, commits, then acknowledges."""

    def __init__(
        self,
        database: Database,
        *,
        queue_spans: int = 200_000,
        batch_spans: int = 20_000,
        linger_seconds: float | None = None,
        gather_seconds: float = DEFAULT_GATHER_SECONDS,
        journal: IngestJournal | None = None,
    ) -> None:
        """``linger_seconds``: how long a commit that is not full may wait for more spans
        (default: 0 without a journal, ``DEFAULT_JOURNAL_LINGER_SECONDS`` with one)."""
        self._database = database
        self._cursor = database.cursor()
        self._queue_spans = queue_spans
        self._batch_spans = batch_spans
        self._journal = journal
        if linger_seconds is None:
            linger_seconds = 0.0 if journal is None else DEFAULT_JOURNAL_LINGER_SECONDS
        self._linger_seconds = linger_seconds
        self._gather_seconds = 0.0 if journal is not None else gather_seconds
        self._announced = 0
        self._pending: deque[_Pending] = deque()
        self._pending_spans = 0
        self._condition = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="tokentrace-span-writer")
        self._known_resources: set[int] = set()
        self._numbering = database.batch_numbering()
        self._last_finished = time.monotonic()
        self._appended_position = 0  # of the last journal record appended
        self._committed_position = 0  # of the last one DuckDB holds
        self.batches_written = 0
        self.spans_written = 0
        self.replayed_spans = 0

    def start(self) -> None:
        """Resume the batch numbering, replay what the journal holds beyond the last commit,
        and start the writer thread."""
        self._numbering.start(self._cursor)
        ids = self._cursor.execute(_KNOWN_RESOURCE_IDS).fetchall()
        self._known_resources = {int(resource_id) for (resource_id,) in ids}
        if self._journal is not None:
            self._replay(self._journal)
        self._thread.start()

    def _replay(self, journal: IngestJournal) -> None:
        """Commit the journal's records after the position DuckDB last recorded (a crash
        came between their acknowledgement and their commit)."""
        row = self._cursor.execute(_JOURNAL_POSITION).fetchone()
        self._committed_position = int(row[0]) if row else 0
        group: list[DecodedSpans] = []
        group_position = self._committed_position
        for record_position, payload in journal.replay(self._committed_position):
            group.append(decode_record(payload))
            group_position = record_position
            if sum(decoded.accepted_spans for decoded in group) >= _REPLAY_GROUP_SPANS:
                self._commit(group, group_position)
                group = []
        if group:
            self._commit(group, group_position)
        if self.spans_written:
            logger.warning("replayed %d acknowledged spans from the journal", self.spans_written)
        self.replayed_spans = self.spans_written
        journal.release_before_current()  # DuckDB holds every earlier record now

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

    def submit(self, decoded: DecodedSpans, *, announced: bool = False) -> Receipt:
        """Queue spans for the next commit (and, with a journal, write them to it now).

        Raises WriterOverloaded when the queue cannot take ``decoded`` without exceeding
        its bound (a request larger than the whole bound is accepted into an empty queue,
        so a single big export cannot be refused forever). With ``announced``, a queued
        request stops counting as announced; one refused here still counts, and its
        caller withdraws it.
        """
        record = encode_record(decoded) if self._journal is not None else None
        pending = _Pending(decoded)
        count = decoded.accepted_spans
        with self._condition:
            if self._closing:
                raise WriterClosed("the writer is shutting down")
            if self._pending_spans and self._pending_spans + count > self._queue_spans:
                raise WriterOverloaded(f"{self._pending_spans} spans are waiting to be written")
            if self._journal is not None and record is not None:
                # In queue order: a commit of a queue prefix holds a journal prefix.
                pending.journal_position, durable = self._journal.append(record)
                pending.receipt.durable = durable
                self._appended_position = pending.journal_position
            self._pending.append(pending)
            self._pending_spans += count
            if announced:
                self._announced -= 1
            self._condition.notify()
        return pending.receipt

    def close(self, timeout: float | None = 60.0) -> None:
        """Write everything already queued, then stop the thread."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._journal is not None:  # when DuckDB holds it all, the journal can go
            self._journal.close(discard=self._committed_position == self._appended_position)
        self._cursor.close()

    # --- the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        while self._wait_for_work():
            # In a lake the turn is the cluster-wide commit lock: while a node waits for it,
            # requests keep arriving, and the group taken once it has it holds them all
            # (the fixed cost of a commit is paid once for more spans).
            try:
                with self._numbering.turn():
                    group = self._take_group()
                    if group:
                        self._write_group(group)
            except Exception as error:  # no turn: the lake's catalog is unreachable
                logger.error("cannot take the writer's turn to commit: %s", error)
                self._finish(self._take_group(), error=error)  # their clients retry
                time.sleep(_NO_TURN_PAUSE_SECONDS)

    def _wait_for_work(self) -> bool:
        """Block until there is work (and, not closing, until the linger and gather waits
        are over); False once closing with nothing left."""
        with self._condition:
            while not self._pending and not self._closing:
                self._condition.wait()
            if not self._pending:
                return False
            if self._linger_seconds and not self._closing:
                deadline = self._pending[0].queued_at + self._linger_seconds
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
            return True

    def _take_group(self) -> list[_Pending]:
        """Take up to batch_spans spans of what is queued (at least one request)."""
        with self._condition:
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
            batch_id = self._commit(
                [item.decoded for item in group], max(item.journal_position for item in group)
            )
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
                item.receipt.set_result(batch_id)
                if not item.journal_position:
                    item.receipt.durable.set_result(None)
            else:
                if item.journal_position:  # acknowledged already: say so loudly
                    logger.error(
                        "an acknowledged batch (journal position %d) could not be stored: %s",
                        item.journal_position,
                        error,
                    )
                else:
                    item.receipt.durable.set_exception(error)
                item.receipt.set_exception(error)

    def _commit(self, batch: list[DecodedSpans], journal_position: int = 0) -> int:
        """Write one group in one transaction, with how far into the journal it reaches;
        returns its batch id once committed. A transaction that loses a write conflict
        (with retention deleting, say) is run again, under a new batch number."""
        spans = pa.concat_tables([decoded.spans for decoded in batch])
        resources = self._new_resources(batch)

        def transaction() -> int:
            with self._numbering.next_batch() as batch_id:
                self._write(spans, resources, batch_id, journal_position)
            return batch_id

        batch_id = retry_on_conflict(transaction, what="a commit of spans")
        if journal_position and self._journal is not None:
            self._committed_position = journal_position
            self._journal.release(journal_position)
        if resources is not None:
            self._known_resources.update(resources.column("resource_id").to_pylist())
        self.batches_written += 1
        self.spans_written += spans.num_rows
        return batch_id

    def _write(
        self, spans: pa.Table, resources: pa.Table | None, batch_id: int, journal_position: int
    ) -> None:
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
            if journal_position:
                cursor.execute(_RECORD_POSITION, [journal_position])
            cursor.execute("COMMIT")
        except BaseException:
            _rollback(cursor)
            raise

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
