"""Retention over a real DuckDB file: spans older than the limit expire with their derived
rows and profiles, after their days were rolled up, and the token summary over a window
reaching back before the limit answers the same totals from the roll-ups."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from opentelemetry.trace import SpanKind

from tests.backend.span_builder import SpanBuilder, trace_id_of
from tests.loopback import serve_asgi
from tokentrace_backend.api import create_api_app
from tokentrace_backend.derived import refresh_derived
from tokentrace_backend.retention import Retention, RetentionRun
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter

TOKEN = "ab" * 16
DAY_NS = 86_400 * 1_000_000_000
HOUR_NS = 3_600 * 1_000_000_000
NOW_NS = time.time_ns()
ROUTES = ("/orders", "/orders/{id}", "/profile")


def _store_history(builder: SpanBuilder, writer: SpanWriter, days: int) -> dict[int, str]:
    """``days`` days of a token's requests (a few per day, mixed routes, outcomes, clients,
    durations, downstream calls and failures); returns one trace id per day ago."""
    traces = {}
    for day in range(1, days + 1):
        for index in range(3 + day % 3):
            start = NOW_NS - day * DAY_NS - index * HOUR_NS
            failed = (day + index) % 7 == 0
            outcome = "success" if (day + index) % 5 else "expired"
            request = builder.request(
                "gateway",
                ROUTES[(day + index) % 3],
                token_id=TOKEN,
                outcome=outcome,
                start_ns=start,
                status=500 if failed else (200 if outcome == "success" else 401),
                client=f"203.0.113.{day % 4}",
                duration_ms=5.0 + (day * 7 + index * 13) % 90,
            )
            if outcome == "success":
                call = builder.span(
                    "gateway",
                    "GET",
                    kind=SpanKind.CLIENT,
                    start_ns=start + 1_000_000,
                    parent=request,
                    duration_ms=3.0,
                )
                builder.span(
                    "orders",
                    "GET /orders",
                    kind=SpanKind.SERVER,
                    start_ns=start + 1_500_000,
                    parent=call,
                    duration_ms=2.0,
                    error=RuntimeError("database is locked") if failed else None,
                )
            traces.setdefault(day, trace_id_of(request))
        builder.flush(writer)
    return traces


def _summary(url: str, since: str = "90d") -> dict[str, Any]:
    answer = httpx.get(f"{url}/api/tokens/{TOKEN}", params={"since": since}, timeout=30)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _totals(summary: dict[str, Any]) -> dict[str, Any]:
    """What must not change when part of the window is answered from the roll-ups."""
    routes = [{k: v for k, v in route.items() if k != "p95_ms"} for route in summary["routes"]]
    return {
        "requests": summary["requests"],
        "outcomes": summary["outcomes"],
        "routes": routes,
        "clients": summary["clients"],
        "services": summary["services"],
        "first_seen": summary["first_seen"],
        "last_seen": summary["last_seen"],
        "max_ms": summary["latency"]["max_ms"],
    }


def _run_until_complete(retention: Retention, database: Database) -> list[RetentionRun]:
    runs = []
    with database.reader() as cursor:
        while not runs or not runs[-1].complete:
            runs.append(retention.run(cursor, NOW_NS))
    return runs


def _count(database: Database, sql: str) -> int:
    with database.reader() as cursor:
        row = cursor.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def api_url(database: Database) -> Iterator[str]:
    app = create_api_app(database, api_key="", jaeger_url="")
    with serve_asgi(app, lifespan="off") as url:
        yield url


def test_totals_before_expiry_are_answered_after_it_from_the_rollups(
    database: Database, writer: SpanWriter, builder: SpanBuilder, api_url: str
) -> None:
    traces = _store_history(builder, writer, days=40)
    with database.reader() as cursor:
        refresh_derived(cursor)
    before = _summary(api_url)
    assert before["from_rollups"] is None
    assert before["requests"] > 100

    reported: list[RetentionRun] = []
    retention = Retention(
        spans=timedelta(days=14), chunk_spans=50, report=lambda _, run: reported.append(run)
    )
    runs = _run_until_complete(retention, database)
    boundary = (NOW_NS - 14 * DAY_NS) // DAY_NS * DAY_NS
    assert runs[0].expired_before_ns == boundary
    assert sum(run.spans_deleted for run in runs) > 0
    assert sum(run.days_rolled_up for run in runs) >= 25
    assert reported == [run for run in runs if run.did_something]

    # The raw rows before the boundary are gone, from every table that holds them.
    for table, column in (
        ("spans", "start_ns"),
        ("token_requests", "start_ns"),
        ("token_calls", "start_ns"),
        ("token_failures", "start_ns"),
        ("link_spans", "start_ns"),
        ("call_minutes", "minute_ns"),
    ):
        assert _count(database, f"SELECT count(*) FROM {table} WHERE {column} < {boundary}") == 0
    assert _count(database, f"SELECT count(*) FROM spans WHERE start_ns >= {boundary}") > 0
    assert _count(database, "SELECT count(*) FROM token_request_days") > 0

    after = _summary(api_url)
    assert after["from_rollups"] is not None
    assert after["from_rollups"]["until"].startswith(
        time.strftime("%Y-%m-%d", time.gmtime(boundary / 1e9))
    )
    assert _totals(after) == _totals(before)
    for quantile in ("p50_ms", "p95_ms", "p99_ms"):
        assert after["latency"][quantile] == pytest.approx(before["latency"][quantile], rel=0.1)

    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "tokentrace.cli",
            "token",
            TOKEN,
            "--url",
            api_url,
            "--since",
            "90d",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "from the daily roll-ups" in shown
    assert f"requests   {before['requests']} " in shown

    # A window within the raw retention is answered from raw rows only, as before.
    recent = _summary(api_url, since="7d")
    assert recent["from_rollups"] is None

    # A trace whose spans expired is not found; a recent one still is.
    assert httpx.get(f"{api_url}/api/traces/{traces[30]}", timeout=30).status_code == 404
    assert httpx.get(f"{api_url}/api/traces/{traces[2]}", timeout=30).status_code == 200

    # Nothing left to do: another run changes nothing and reports nothing.
    reported.clear()
    assert not _run_until_complete(retention, database)[-1].did_something
    assert reported == []


def test_late_spans_of_an_expired_day_are_rolled_up_by_the_next_run(
    database: Database, writer: SpanWriter, builder: SpanBuilder, api_url: str
) -> None:
    _store_history(builder, writer, days=20)
    retention = Retention(spans=timedelta(days=14))
    with database.reader() as cursor:
        refresh_derived(cursor)
    _run_until_complete(retention, database)
    before = _summary(api_url)

    builder.request(
        "gateway", "/late", token_id=TOKEN, outcome="success", start_ns=NOW_NS - 18 * DAY_NS
    )
    builder.flush(writer)
    with database.reader() as cursor:
        refresh_derived(cursor)
    _run_until_complete(retention, database)

    after = _summary(api_url)
    assert after["requests"] == before["requests"] + 1
    assert "/late" in [route["route"] for route in after["routes"]]
    assert _count(database, "SELECT count(*) FROM token_requests WHERE http_route = '/late'") == 0


def test_rollups_and_profiles_expire_after_their_own_limits(
    database: Database, writer: SpanWriter, builder: SpanBuilder
) -> None:
    _store_history(builder, writer, days=40)
    with database.reader() as cursor:
        refresh_derived(cursor)
        cursor.execute("INSERT INTO token_hours VALUES ($t, 1, 0, 1, 1, 0, 0)", {"t": TOKEN})
    _run_until_complete(Retention(spans=timedelta(days=10), rollups=timedelta(days=30)), database)
    oldest_day = (NOW_NS - 30 * DAY_NS) // DAY_NS
    assert (
        _count(database, f"SELECT count(*) FROM token_request_days WHERE day < {oldest_day}") == 0
    )
    assert _count(database, f"SELECT count(*) FROM token_call_days WHERE day < {oldest_day}") == 0
    assert _count(database, "SELECT count(*) FROM token_request_days") > 0
    assert _count(database, "SELECT count(*) FROM token_hours WHERE hour = 1") == 0


def test_a_run_within_a_small_budget_stops_and_every_answer_meanwhile_is_whole(
    database: Database, writer: SpanWriter, builder: SpanBuilder, api_url: str
) -> None:
    _store_history(builder, writer, days=20)
    with database.reader() as cursor:
        refresh_derived(cursor)
    expected = _totals(_summary(api_url))
    retention = Retention(spans=timedelta(days=3), budget_seconds=0.0, chunk_spans=10)
    runs = []
    with database.reader() as cursor:
        while not runs or not runs[-1].complete:
            runs.append(retention.run(cursor, NOW_NS))
            assert _totals(_summary(api_url)) == expected  # one day rolled up at a time
    assert len(runs) > 10
    assert not runs[0].complete
    boundary = runs[-1].expired_before_ns
    assert _count(database, f"SELECT count(*) FROM spans WHERE start_ns < {boundary}") == 0


def test_an_unfinished_run_resumes_after_a_pause_and_a_finished_one_after_the_interval(
    database: Database, writer: SpanWriter, builder: SpanBuilder
) -> None:
    _store_history(builder, writer, days=20)
    with database.reader() as cursor:
        refresh_derived(cursor)
        retention = Retention(spans=timedelta(days=3), budget_seconds=0.0, duty=0.001)
        first = retention(cursor)
        assert first is not None
        assert not first.complete
        assert retention(cursor) is None  # paused: 999 times as long as the run took
        finishing = Retention(spans=timedelta(days=3), interval_seconds=3600)
        assert (done := finishing(cursor)) is not None
        assert done.complete
        assert finishing(cursor) is None  # complete: the next run waits the interval
