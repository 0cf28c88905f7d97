"""A real ``tokentrace serve --retention``: its background refresh runs the retention job,
which expires old spans, answers from roll-ups and records each run in the audit trail."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx

from tests.backend.ingest.serve_process import ServeProcess
from tests.backend.retention.test_retention import DAY_NS, NOW_NS, TOKEN, _store_history
from tests.backend.span_builder import SpanBuilder
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter


def test_serve_expires_old_spans_in_the_background_and_audits_the_run(tmp_path: Path) -> None:
    db_path = tmp_path / "old.duckdb"
    database = Database(db_path)
    writer = SpanWriter(database)
    writer.start()
    builder = SpanBuilder()
    try:
        _store_history(builder, writer, days=20)
    finally:
        builder.shutdown()
        writer.close()
        database.close()

    server = ServeProcess(db_path, args=["--retention", "7d", "--rollup-retention", "30d"])
    server.start()
    try:
        deadline = time.monotonic() + 30
        summary: dict[str, object] = {}
        while time.monotonic() < deadline:
            answer = httpx.get(
                f"{server.api_url}/api/tokens/{TOKEN}", params={"since": "30d"}, timeout=5
            )
            if answer.status_code == 200:
                summary = answer.json()
                part = summary["from_rollups"]
                if isinstance(part, dict) and part["until"].startswith(
                    time.strftime("%Y-%m-%d", time.gmtime((NOW_NS - 7 * DAY_NS) / 1e9))
                ):
                    break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no roll-ups up to the boundary: {summary}")
        assert summary["requests"] == sum(3 + day % 3 for day in range(1, 21))
        # The spans go after the roll-ups, in chunks, in later rounds: wait for the run
        # that says it is complete (its audit record) before stopping the server.
        runs: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            runs = httpx.get(
                f"{server.api_url}/api/audit", params={"kind": "retention.run"}, timeout=5
            ).json()["records"]
            if any(run["body"]["complete"] and run["body"]["spans_deleted"] for run in runs):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no complete retention run that deleted spans: {runs}")
    finally:
        assert server.stop() == 0

    boundary = (NOW_NS - 7 * DAY_NS) // DAY_NS * DAY_NS
    with duckdb.connect(str(db_path), read_only=True) as connection:
        old = connection.execute(
            "SELECT count(*) FROM spans WHERE start_ns < $b", {"b": boundary}
        ).fetchone()
        assert old == (0,)
        records = connection.execute(
            "SELECT body FROM audit_records WHERE kind = 'retention.run' ORDER BY seq"
        ).fetchall()
    assert records, "no retention run in the audit trail"
    bodies = [json.loads(body) for (body,) in records]
    assert sum(body["spans_deleted"] for body in bodies) > 0
    assert {body["expired_before_ns"] for body in bodies} == {boundary}
