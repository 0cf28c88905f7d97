"""Findings written straight into a real database, as the detectors would write them, and
the dispatcher's tables read back."""

from __future__ import annotations

import json
import time
from typing import Any

import duckdb

from tests.polling import wait_for
from tokentrace_backend.alerts.findings import Finding
from tokentrace_backend.storage.database import ReadableDatabase

TOKEN = "0123456789abcdef0123456789abcdef"
OTHER_TOKEN = "fedcba9876543210fedcba9876543210"
NS = 1_000_000_000
FIRST_NS = 1_780_000_000 * NS  # 2026-05-28T20:26:40Z

# A finding as the dispatcher reads it, for the tests that need no database.
FINDING = Finding(
    id=1,
    kind="new_network",
    token_id=TOKEN,
    owner="svc:ci",
    client_address="203.0.113.0/24",
    subject="203.0.113.0/24",
    severity="high",
    state="open",
    summary="first request from a new network",
    baseline={},
    evidence={},
    first_ns=0,
    last_ns=0,
    detected_at_ns=0,
    updated_at_ns=0,
)


def insert_finding(
    target: ReadableDatabase | duckdb.DuckDBPyConnection,
    *,
    kind: str = "new_network",
    severity: str = "high",
    token_id: str | None = TOKEN,
    client_address: str | None = "203.0.113.0/24",
    subject: str = "203.0.113.0/24",
    state: str = "open",
    summary: str = "first request from 203.0.113.0/24; 2 networks known",
) -> int:
    """Insert one finding, opened now; returns its id."""
    now_ns = time.time_ns()
    values = [
        kind,
        token_id,
        client_address,
        subject,
        severity,
        state,
        summary,
        json.dumps({"networks": ["198.51.100.0/24", "192.0.2.0/24"]}),
        json.dumps({"trace_ids": ["4bf92f3577b34da6a3ce929d0e0e4736"], "counts": {"requests": 3}}),
        FIRST_NS,
        FIRST_NS + 5 * NS,
        now_ns,
        now_ns,  # as the detectors write it: updated when opened
    ]
    sql = (
        "INSERT INTO findings (kind, token_id, client_address, subject, severity, state,"
        " summary, baseline, evidence, first_ns, last_ns, detected_at_ns, updated_at_ns)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
    )
    if isinstance(target, duckdb.DuckDBPyConnection):
        row = target.execute(sql, values).fetchone()
    else:
        with target.reader() as cursor:
            row = cursor.execute(sql, values).fetchone()
    assert row is not None
    return int(row[0])


def add_evidence(database: ReadableDatabase, finding_id: int) -> None:
    """What a detector does when the same incident goes on: update the row."""
    with database.reader() as cursor:
        cursor.execute(
            "UPDATE findings SET last_ns = last_ns + 60000000000, updated_at_ns = ?,"
            " evidence = ?, severity = 'critical' WHERE id = ?",
            [time.time_ns(), json.dumps({"counts": {"requests": 30}}), finding_id],
        )


def insert_token(database: ReadableDatabase, token_id: str, owner: str, number: int = 1) -> None:
    """A token with its owner in token_dim, as the derived tables hold it."""
    with database.reader() as cursor:
        cursor.execute(
            "INSERT INTO token_dim (token_number, token_id, owner) VALUES (?, ?, ?)",
            [number, token_id, owner],
        )


def deliveries(
    database: ReadableDatabase, source: str = "finding"
) -> dict[tuple[str, int], dict[str, Any]]:
    """Every row of alert_deliveries of ``source`` (findings, or lifecycle alerts) by
    (rule, id)."""
    with database.reader() as cursor:
        rows = cursor.execute(
            "SELECT rule_name, source_id, status, attempts, http_status, last_error,"
            " queued_at_ns, updated_at_ns FROM alert_deliveries WHERE source = ?",
            [source],
        ).fetchall()
    names = ("status", "attempts", "http_status", "last_error", "queued_at_ns", "updated_at_ns")
    return {(row[0], int(row[1])): dict(zip(names, row[2:], strict=True)) for row in rows}


def last_handled(database: ReadableDatabase) -> int:
    with database.reader() as cursor:
        row = cursor.execute("SELECT last_finding_id FROM alert_state").fetchone()
    assert row is not None
    return int(row[0])


def wait_until(condition: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``condition()`` until it returns something truthy; returns it."""
    return wait_for(condition, what, timeout, interval=0.02)
