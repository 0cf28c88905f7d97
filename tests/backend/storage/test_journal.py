"""The ingest journal: records survive as written, a torn tail ends a replay, segments
rotate and are released; and the writer acknowledges journaled spans before committing
them, records how far it committed, and replays the rest after a crash."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.backend.ingest.otlp_builders import make_request, make_span
from tokentrace_backend.ingest.python_decoder import decode_spans
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.journal import (
    IngestJournal,
    JournalError,
    decode_record,
    encode_record,
    split_position,
)
from tokentrace_backend.storage.span_rows import DecodedSpans
from tokentrace_backend.storage.writer import SpanWriter


def _decoded(count: int, name: str = "span") -> DecodedSpans:
    spans = [make_span(name=f"{name} {index}") for index in range(count)]
    return decode_spans(make_request(spans, "orders").SerializeToString())


def test_records_come_back_as_written_and_in_order(tmp_path: Path) -> None:
    journal = IngestJournal(tmp_path / "journal")
    written = [_decoded(3, "a"), _decoded(2, "b")]
    appended = [journal.append(encode_record(decoded)) for decoded in written]
    for _, durable in appended:
        durable.result(timeout=10)
    journal.close()
    replayed = list(IngestJournal(tmp_path / "journal").replay(0))
    assert [position for position, _ in replayed] == [position for position, _ in appended]
    assert [decode_record(payload).spans for _, payload in replayed] == [
        decoded.spans for decoded in written
    ]
    first_position = appended[0][0]
    assert [p for p, _ in IngestJournal(tmp_path / "journal").replay(first_position)] == [
        appended[1][0]
    ]


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_a_torn_record_ends_the_replay(tmp_path: Path, damage: str) -> None:
    journal = IngestJournal(tmp_path / "journal")
    good, _ = journal.append(encode_record(_decoded(2)))
    journal.append(encode_record(_decoded(2)))
    journal.close()
    segment = next((tmp_path / "journal").glob("*.log"))
    data = bytearray(segment.read_bytes())
    if damage == "truncated":  # the crash came while the second record was being written
        del data[-10:]
    else:  # a bit flipped in the second record's payload
        data[-5] ^= 0x40
    segment.write_bytes(bytes(data))
    assert [position for position, _ in IngestJournal(tmp_path / "journal").replay(0)] == [good]


def test_segments_rotate_and_are_released_once_committed(tmp_path: Path) -> None:
    journal = IngestJournal(tmp_path / "journal", segment_bytes=20_000)
    positions = []
    for _ in range(12):
        position, durable = journal.append(encode_record(_decoded(20)))
        durable.result(timeout=10)
        positions.append(position)
    segments = journal.segments()
    assert len(segments) > 2
    journal.release(positions[-1])  # DuckDB holds everything up to the last record
    assert journal.segments() == [split_position(positions[-1])[0]]
    journal.close()


def test_the_writer_acknowledges_journaled_spans_before_committing_them(
    tmp_path: Path,
) -> None:
    database = Database(tmp_path / "spans.duckdb")
    writer = SpanWriter(database, journal=IngestJournal(tmp_path / "journal"), linger_seconds=1)
    writer.start()
    try:
        receipt = writer.submit(_decoded(5))
        receipt.durable.result(timeout=10)
        assert not receipt.done()  # journaled, not yet committed (the writer lingers)
        with database.reader() as cursor:
            assert cursor.execute("SELECT count(*) FROM spans").fetchone() == (0,)
        batch = receipt.result(timeout=10)
        with database.reader() as cursor:
            assert cursor.execute("SELECT count(*) FROM spans").fetchone() == (5,)
            (recorded,) = cursor.execute("SELECT position FROM ingest_journal").fetchone()
        assert batch == 1 and recorded > 0
    finally:
        writer.close()
        database.close()
    assert not list((tmp_path / "journal").glob("*.log"))  # all committed: nothing kept


def test_a_crash_between_acknowledgement_and_commit_loses_nothing(tmp_path: Path) -> None:
    """What is on disk when the process dies: the journal has the acknowledged spans, the
    DuckDB file does not (yet). A writer started on those files replays them, once."""
    live = tmp_path / "live"
    database = Database(live / "spans.duckdb")
    writer = SpanWriter(database, journal=IngestJournal(live / "journal"), linger_seconds=5)
    writer.start()
    first = writer.submit(_decoded(4, "committed"))
    first.result(timeout=10)  # committed, position recorded
    for count in (3, 2):
        writer.submit(_decoded(count, "journaled")).durable.result(timeout=10)
    crashed = tmp_path / "crashed"
    shutil.copytree(live, crashed)  # the files as they are at the power cut
    writer.close()
    database.close()

    restarted_db = Database(crashed / "spans.duckdb")
    restarted = SpanWriter(restarted_db, journal=IngestJournal(crashed / "journal"))
    restarted.start()
    try:
        assert restarted.replayed_spans == 5
        assert not list((crashed / "journal").glob("*.log"))  # replayed: the old run's go
        with restarted_db.reader() as cursor:
            rows = cursor.execute("SELECT name FROM spans ORDER BY name").fetchall()
            names = [name for (name,) in rows]
        assert names == sorted(
            [f"committed {n}" for n in range(4)]
            + [f"journaled {n}" for n in range(3)]
            + [f"journaled {n}" for n in range(2)]
        )
        assert restarted.submit(_decoded(1, "after")).result(timeout=10) > 0
    finally:
        restarted.close()
        restarted_db.close()
    # Started once more: nothing is replayed twice.
    again_db = Database(crashed / "spans.duckdb")
    again = SpanWriter(again_db, journal=IngestJournal(crashed / "journal"))
    again.start()
    try:
        assert again.replayed_spans == 0
        with again_db.reader() as cursor:
            assert cursor.execute("SELECT count(*) FROM spans").fetchone() == (10,)
    finally:
        again.close()
        again_db.close()


def test_without_a_journal_acknowledgement_waits_for_the_commit(tmp_path: Path) -> None:
    database = Database(tmp_path / "spans.duckdb")
    writer = SpanWriter(database)
    writer.start()
    try:
        receipt = writer.submit(_decoded(2))
        receipt.durable.result(timeout=10)
        deadline = time.monotonic() + 1
        while not receipt.done() and time.monotonic() < deadline:
            time.sleep(0.001)  # the two complete together, in the writer thread
        assert receipt.done()
        with database.reader() as cursor:
            assert cursor.execute("SELECT count(*) FROM spans").fetchone() == (2,)
    finally:
        writer.close()
        database.close()


def test_a_failing_fsync_fails_the_waiting_records_and_refuses_new_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tokentrace_backend.storage.journal as journal_module

    def broken_fsync(descriptor: int) -> None:
        raise OSError(5, "Input/output error")

    journal = IngestJournal(tmp_path / "journal")
    monkeypatch.setattr(journal_module.os, "fsync", broken_fsync)
    _, durable = journal.append(encode_record(_decoded(2)))
    with pytest.raises(JournalError, match="cannot be synced"):
        durable.result(timeout=10)  # never acknowledged as durable
    with pytest.raises(JournalError, match="cannot be written"):
        journal.append(encode_record(_decoded(2)))
    monkeypatch.undo()
    journal.close()
