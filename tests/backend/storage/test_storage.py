"""The storage layer in process: migrations, the single writer, readers beside it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.backend.ingest.otlp_builders import make_request, make_span
from tokentrace_backend.ingest.python_decoder import decode_spans
from tokentrace_backend.storage import Database, apply_migrations, migration_files
from tokentrace_backend.storage.span_rows import RESOURCE_SCHEMA, SPAN_SCHEMA
from tokentrace_backend.storage.writer import SpanWriter, WriterOverloaded

# How each Arrow type of the decoded rows is stored (JSON columns are text in Arrow).
DUCKDB_TYPE = {
    "binary": "BLOB",
    "uint8": "UTINYINT",
    "uint16": "USMALLINT",
    "uint64": "UBIGINT",
    "int64": "BIGINT",
    "string": "VARCHAR",
}


def _decoded(count: int, service: str = "orders"):  # type: ignore[no-untyped-def]
    spans = [make_span(name=f"span {index}") for index in range(count)]
    return decode_spans(make_request(spans, service).SerializeToString())


@pytest.mark.parametrize(
    ("table", "schema", "added_by_the_writer"),
    [("spans", SPAN_SCHEMA, ["batch_id"]), ("resources", RESOURCE_SCHEMA, [])],
)
def test_decoded_rows_have_the_tables_columns_and_types(
    tmp_path: Path, table: str, schema: object, added_by_the_writer: list[str]
) -> None:
    """span_rows mirrors the migrations column for column: a column added to one and not to
    the other fails here, not at the first insert."""
    database = Database(tmp_path / "schema.duckdb")
    with database.reader() as cursor:
        stored = [(name, kind) for name, kind, *_ in cursor.execute(f"DESCRIBE {table}").fetchall()]
    database.close()
    decoded = [
        (
            field.name,
            "JSON" if field.name in ("attributes", "events") else DUCKDB_TYPE[str(field.type)],
        )
        for field in schema  # type: ignore[attr-defined]
    ]
    assert stored == decoded + [(name, "UBIGINT") for name in added_by_the_writer]


def test_migrations_are_applied_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "fresh.duckdb"
    database = Database(path)
    files = migration_files()
    assert files[0].name == "001_spans.sql"
    assert [migration.version for migration in files] == sorted(m.version for m in files)
    with database.reader() as cursor:
        versions = cursor.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert [version for (version,) in versions] == [m.version for m in files]
        assert apply_migrations(cursor) == []  # nothing left to apply
        columns = {row[0] for row in cursor.execute("DESCRIBE spans").fetchall()}
    assert {"trace_id", "span_id", "token_id", "attributes", "resource_id", "batch_id"} <= columns
    database.close()
    reopened = Database(path)  # reopening an up-to-date file changes nothing
    with reopened.reader() as cursor:
        assert cursor.execute("SELECT count(*) FROM schema_version").fetchone() == (len(files),)
    reopened.close()


def test_writer_numbers_batches_dedupes_resources_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "writer.duckdb"
    database = Database(path)
    writer = SpanWriter(database)
    writer.start()
    first = writer.submit(_decoded(10)).result(timeout=30)
    second = writer.submit(_decoded(5)).result(timeout=30)
    third = writer.submit(_decoded(3, service="billing")).result(timeout=30)
    assert first < second < third
    writer.close()
    with database.reader() as cursor:
        assert cursor.execute("SELECT count(*) FROM spans").fetchone() == (18,)
        services = cursor.execute("SELECT service_name FROM resources ORDER BY 1").fetchall()
        assert services == [("billing",), ("orders",)]
        per_batch = cursor.execute(
            "SELECT batch_id, count(*) FROM spans GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert per_batch == [(first, 10), (second, 5), (third, 3)]
    database.close()

    database = Database(path)
    writer = SpanWriter(database)
    writer.start()
    assert writer.submit(_decoded(1)).result(timeout=30) > third
    writer.close()
    database.close()


def test_readers_work_while_the_writer_writes(tmp_path: Path) -> None:
    database = Database(tmp_path / "concurrent.duckdb")
    writer = SpanWriter(database)
    writer.start()
    counts: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                with database.reader() as cursor:
                    row = cursor.execute("SELECT count(*) FROM spans").fetchone()
                    assert row is not None
                    counts.append(int(row[0]))
        except BaseException as error:  # reported below
            errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    futures = [writer.submit(_decoded(50)) for _ in range(20)]
    for future in futures:
        future.result(timeout=60)
    done.set()
    reader.join(30)
    writer.close()
    assert not errors
    assert counts == sorted(counts)  # each reader sees whole committed batches, growing
    assert all(count % 50 == 0 for count in counts)
    with database.reader() as cursor:
        assert cursor.execute("SELECT count(*) FROM spans").fetchone() == (1000,)
    database.close()


def test_a_full_queue_refuses_instead_of_growing(tmp_path: Path) -> None:
    database = Database(tmp_path / "bounded.duckdb")
    writer = SpanWriter(database, queue_spans=100)
    pending = writer.submit(_decoded(80))  # not started: nothing drains the queue yet
    with pytest.raises(WriterOverloaded):
        writer.submit(_decoded(30))
    assert writer.queued_spans == 80
    writer.start()
    pending.result(timeout=30)
    assert writer.submit(_decoded(30)).result(timeout=30) > 0
    writer.close()
    database.close()


def test_the_writer_reports_how_long_it_has_been_idle(tmp_path: Path) -> None:
    database = Database(tmp_path / "idle.duckdb")
    writer = SpanWriter(database)
    pending = writer.submit(_decoded(5))  # not started: the spans stay queued
    time.sleep(0.05)
    assert writer.idle_seconds() == 0.0  # queued work counts as busy however old
    writer.start()
    pending.result(timeout=30)
    time.sleep(0.1)
    assert writer.idle_seconds() >= 0.1
    writer.close()
    database.close()


def test_a_commit_waits_for_announced_requests_to_share_it(tmp_path: Path) -> None:
    database = Database(tmp_path / "gather.duckdb")
    writer = SpanWriter(database, gather_seconds=10.0)
    writer.start()
    writer.announce()
    writer.announce()
    first = writer.submit(_decoded(5), announced=True)
    time.sleep(0.1)
    assert not first.done()  # the other announced request is still on its way
    second = writer.submit(_decoded(7), announced=True)
    assert first.result(timeout=30) == second.result(timeout=30)  # one commit for both

    writer.announce()
    writer.announce()
    started = time.monotonic()
    third = writer.submit(_decoded(3), announced=True)
    writer.withdraw()  # the other one was refused: nothing left to wait for
    assert third.result(timeout=30) > second.result()
    assert time.monotonic() - started < 5.0
    alone = writer.submit(_decoded(2))  # nothing announced: no wait at all
    assert alone.result(timeout=5) > third.result()
    writer.close()
    database.close()


def test_the_database_applies_its_memory_limit(tmp_path: Path) -> None:
    database = Database(tmp_path / "limited.duckdb", memory_limit="640MB")
    try:
        with database.reader() as cursor:
            row = cursor.execute("SELECT current_setting('memory_limit')").fetchone()
        assert row is not None and str(row[0]).replace(" ", "") in {"610.3MiB", "640.0MB"}
    finally:
        database.close()
