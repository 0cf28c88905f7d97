"""The derived per-token tables: incremental refresh by batch_id equals a full rebuild, and
spans of a trace that arrive in later batches are still linked."""

from __future__ import annotations

import time

import pytest
from opentelemetry.trace import Span, SpanKind

from tests.backend.scenario import HEALTHY, build_scenario
from tests.backend.span_builder import NS_PER_MS, SpanBuilder
from tests.loopback import serve_asgi
from tokentrace import attributes as tt
from tokentrace_backend.api import create_api_app
from tokentrace_backend.derived import compact_if_due, refresh_derived
from tokentrace_backend.queries import QueryFilters, Window, global_dependencies
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter

DERIVED = ("token_dim", "token_requests", "token_calls", "token_failures", "token_lifecycle")
# The refresh's own state, cleared with the derived tables when they are rebuilt.
STATE = ("link_spans",)


def snapshot(database: Database) -> dict[str, list[tuple[object, ...]]]:
    with database.reader() as cursor:
        numbers = dict(cursor.execute("SELECT token_number, token_id FROM token_dim").fetchall())
        tables = {}
        for table in DERIVED:
            rows = cursor.execute(f"SELECT * FROM {table}").fetchall()
            if table != "token_dim" and rows and isinstance(rows[0][0], int):
                rows = [(numbers.get(row[0]), *row[1:]) for row in rows]  # ids, not numbers
            tables[table] = sorted(rows, key=repr)
        return tables


def untagged_payments_answer(
    builder: SpanBuilder, call: Span, t: int, *, db_error: BaseException | None = None
) -> None:
    """The spans of a payments service without tokentrace answering ``call``: its server
    span (HTTP 500) and the postgresql INSERT under it, failing with ``db_error`` if given."""
    payments = builder.span(
        "payments",
        "POST /charge",
        kind=SpanKind.SERVER,
        start_ns=t + 2,
        parent=call,
        attributes={"http.response.status_code": 500},
    )
    builder.span(
        "payments",
        "INSERT",
        kind=SpanKind.CLIENT,
        start_ns=t + 3,
        parent=payments,
        attributes={"db.system.name": "postgresql"},
        error=db_error,
    )


def test_incremental_refresh_equals_one_full_refresh(
    builder: SpanBuilder, writer: SpanWriter, database: Database, tmp_path: object
) -> None:
    # refresh after every export (as the API does under steady ingest)...
    original_flush = builder.flush

    def flush_and_refresh(span_writer: SpanWriter) -> int:
        batch = original_flush(span_writer)
        with database.reader() as cursor:
            assert refresh_derived(cursor) >= 1
        return batch

    builder.flush = flush_and_refresh  # type: ignore[method-assign]
    build_scenario(builder, writer, database)
    incremental = snapshot(database)

    # ...and compare with deriving everything at once from the same spans
    with database.reader() as cursor:
        cursor.execute("BEGIN TRANSACTION")
        for table in DERIVED + STATE:
            cursor.execute(f"DELETE FROM {table}")
        cursor.execute("UPDATE derived_state SET last_batch_id = 0")
        cursor.execute("COMMIT")
        assert refresh_derived(cursor, slice_spans=1) >= 3  # one slice per batch, in order
    rebuilt = snapshot(database)
    for table in DERIVED:
        assert set(rebuilt[table]) ^ set(incremental[table]) == set(), table
    assert len(incremental["token_requests"]) == 11
    with database.reader() as cursor:
        assert refresh_derived(cursor) == 0  # nothing new


def test_late_downstream_spans_are_linked_through_their_trace(
    builder: SpanBuilder, writer: SpanWriter, database: Database
) -> None:
    token = "ab" * 16
    t = time.time_ns() - 60_000 * NS_PER_MS
    root = builder.request("gateway", "/pay", token_id=token, outcome="success", start_ns=t)
    call = builder.span(
        "gateway",
        "POST",
        kind=SpanKind.CLIENT,
        start_ns=t + 1,
        parent=root,
        attributes={tt.TOKEN_ID: token, "server.address": "payments.internal"},
    )
    builder.flush(writer)
    with database.reader() as cursor:
        refresh_derived(cursor)
        # until payments' spans arrive, the call goes to a remote peer
        assert cursor.execute("SELECT source, target, target_kind FROM token_calls").fetchall() == [
            ("gateway", "payments.internal", "remote")
        ]
    # the untagged payments service exports a batch later
    untagged_payments_answer(builder, call, t, db_error=TimeoutError("slow disk"))
    builder.flush(writer)
    with database.reader() as cursor:
        refresh_derived(cursor)
        failures = cursor.execute(
            "SELECT d.token_id, f.service_name, f.error_kind FROM token_failures f "
            "JOIN token_dim d USING (token_number) ORDER BY f.start_ns"
        ).fetchall()
        calls = cursor.execute(
            "SELECT d.token_id, c.source, c.target, c.target_kind, c.failed FROM token_calls c "
            "JOIN token_dim d USING (token_number) ORDER BY c.start_ns"
        ).fetchall()
    assert failures == [
        (token, "payments", "HTTP 500"),
        (token, "payments", "TimeoutError"),
    ]
    assert calls == [
        (token, "gateway", "payments", "service", True),
        (token, "payments", "postgresql", "database", True),
    ]
    with database.reader() as cursor:  # the global graph undid the remote-peer call too
        window = Window(
            since_ns=t - 3_600 * 1_000 * NS_PER_MS, until_ns=t + 3_600 * 1_000 * NS_PER_MS
        )
        graph = global_dependencies(cursor, QueryFilters(window=window))
    assert [(e.source, e.target, e.calls, e.errors) for e in graph.edges] == [
        ("gateway", "payments", 1, 1),
        ("payments", "postgresql", 1, 1),
    ]


@pytest.mark.parametrize("defer_to_writer", [False, True])
def test_the_app_refreshes_in_the_background(
    builder: SpanBuilder, writer: SpanWriter, database: Database, defer_to_writer: bool
) -> None:
    app = create_api_app(
        database,
        api_key="",
        refresh_interval=0.05,
        ingest_activity=writer if defer_to_writer else None,
    )
    with serve_asgi(app, lifespan="on"):
        builder.request(
            "gateway", "/", token_id="cd" * 16, outcome="success", start_ns=time.time_ns()
        )
        batch = builder.flush(writer)
        deadline = time.monotonic() + 10
        with database.reader() as cursor:
            while time.monotonic() < deadline:  # no API request is made
                row = cursor.execute("SELECT last_batch_id FROM derived_state").fetchone()
                if row == (batch,):
                    break
                time.sleep(0.02)
            assert row == (batch,)
            assert cursor.execute("SELECT token_id FROM token_dim").fetchall() == [("cd" * 16,)]


def test_compaction_keeps_every_row_and_sorts_by_token(
    builder: SpanBuilder, writer: SpanWriter, database: Database
) -> None:
    build_scenario(builder, writer, database)
    with database.reader() as cursor:
        refresh_derived(cursor)
        before = snapshot(database)
        assert compact_if_due(cursor) == []  # a small tail is not worth a rewrite
        assert compact_if_due(cursor, force=True) == [
            "token_requests",
            "token_calls",
            "token_failures",
        ]
        numbers = [
            n for (n,) in cursor.execute("SELECT token_number FROM token_requests").fetchall()
        ]
        assert numbers == sorted(numbers)
        sorted_rows = dict(
            cursor.execute("SELECT table_name, sorted_rows FROM derived_sorted_rows").fetchall()
        )
        assert sorted_rows["token_requests"] == len(numbers)
        assert compact_if_due(cursor, force=True) == []  # nothing unsorted left
    assert snapshot(database) == before


def test_a_compaction_sorts_only_the_rows_since_the_last_one(
    builder: SpanBuilder, writer: SpanWriter, database: Database
) -> None:
    """Each compaction appends one sorted run: the rows of the first are not rewritten."""
    build_scenario(builder, writer, database)
    with database.reader() as cursor:
        refresh_derived(cursor)
        compact_if_due(cursor, force=True)
        first_run = cursor.execute("SELECT token_number, start_ns FROM token_requests").fetchall()
    t = time.time_ns() - 60_000 * NS_PER_MS
    for token in ("0a" * 16, "0b" * 16):  # numbered after every token of the first run
        builder.request("gateway", "/late", token_id=token, outcome="success", start_ns=t)
    builder.request(
        "gateway", "/late", token_id=HEALTHY, outcome="success", start_ns=t
    )  # an early token number: in the second run, not merged into the first
    builder.flush(writer)
    with database.reader() as cursor:
        refresh_derived(cursor)
        assert compact_if_due(cursor, force=True) == ["token_requests"]
        rows = cursor.execute("SELECT token_number, start_ns FROM token_requests").fetchall()
    assert rows[: len(first_run)] == first_run
    second_run = rows[len(first_run) :]
    assert len(second_run) == 3
    assert second_run == sorted(second_run)
    assert rows != sorted(rows)  # two runs, not one rewrite of the whole table


def test_untagged_spans_stored_before_their_tagged_parent_are_linked_when_it_arrives(
    builder: SpanBuilder, writer: SpanWriter, database: Database
) -> None:
    token = "ef" * 16
    t = time.time_ns() - 60_000 * NS_PER_MS
    # The gateway's root span ends last, so an untagged downstream service exports first.
    root = builder.request("gateway", "/pay", token_id=token, outcome="success", start_ns=t)
    call = builder.span(
        "gateway",
        "POST",
        kind=SpanKind.CLIENT,
        start_ns=t + 1,
        parent=root,
        attributes={tt.TOKEN_ID: token},
    )
    gateway_spans = builder.exporter.get_finished_spans()
    builder.exporter.clear()
    untagged_payments_answer(builder, call, t)
    builder.flush(writer)  # payments first
    with database.reader() as cursor:
        refresh_derived(cursor)
        assert cursor.execute("SELECT count(*) FROM token_failures").fetchone() == (0,)
        assert cursor.execute("SELECT token_number FROM token_calls").fetchall() == [(None,)]
    for span in gateway_spans:  # then the gateway
        builder.exporter.export([span])
    builder.flush(writer)
    with database.reader() as cursor:
        refresh_derived(cursor)
        failures = cursor.execute(
            "SELECT d.token_id, f.service_name FROM token_failures f JOIN token_dim d USING (token_number)"
        ).fetchall()
        calls = cursor.execute(
            "SELECT d.token_id, c.source, c.target FROM token_calls c "
            "LEFT JOIN token_dim d USING (token_number) ORDER BY c.start_ns"
        ).fetchall()
    assert failures == [(token, "payments")]
    assert calls == [
        (token, "gateway", "payments"),
        (token, "payments", "postgresql"),
    ]


def test_a_refresh_leaves_the_query_planner_as_it_found_it(
    builder: SpanBuilder, writer: SpanWriter, database: Database
) -> None:
    # A refresh turns off one join optimisation for its own statements only.
    build_scenario(builder, writer, database)
    with database.reader() as cursor:
        assert refresh_derived(cursor) >= 1
        row = cursor.execute("SELECT current_setting('disabled_optimizers')").fetchone()
        assert row is not None and not row[0]
