"""``Detection.follow``: what the background refresh calls after each refresh. One chunk per
call, at most once per interval, so that detection cannot hold the refresh up."""

from __future__ import annotations

from pathlib import Path

from tokentrace_backend.derived import refresh_derived
from tokentrace_backend.detect import Detection
from tokentrace_backend.ingest import decode_spans
from tokentrace_backend.scenario.incidents import Request, Traffic, export_requests
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter

T0 = 1_780_000_000 * 1_000_000_000


def _stored(path: Path, exports: int) -> Database:
    requests = [
        Request(
            token_id=f"{index % 7:032x}",
            start_ns=T0 + index * 1_000_000_000,
            endpoint="GET /orders",
            outcome="success",
            client_address="10.1.2.3",
            user_agent="python-httpx/0.28.1",
        )
        for index in range(100 * exports)
    ]
    database = Database(path)
    writer = SpanWriter(database)
    writer.start()
    for body in export_requests(Traffic(requests=requests), per_request=100):
        writer.submit(decode_spans(body)).result(timeout=30)
    writer.close()
    with database.reader() as cursor:
        refresh_derived(cursor)
    return database


def _read_through(database: Database) -> int:
    with database.reader() as cursor:
        row = cursor.execute("SELECT last_batch_id FROM detect_state").fetchone()
    assert row is not None
    return int(row[0])


def test_follow_reads_one_chunk_per_interval(tmp_path: Path) -> None:
    database = _stored(tmp_path / "spans.duckdb", exports=3)
    detection = Detection(chunk_spans=100, follow_interval=3600)
    with database.reader() as cursor:
        assert detection.follow(cursor) == 1  # one chunk: one 100-span batch
        assert detection.follow(cursor) == 0  # not due again within the interval
    assert _read_through(database) == 1
    eager = Detection(chunk_spans=100, follow_interval=0)
    with database.reader() as cursor:
        assert eager.follow(cursor) == 1
        assert eager.follow(cursor) == 1
        assert eager.follow(cursor) == 0  # caught up
    assert _read_through(database) == 3
    database.close()
