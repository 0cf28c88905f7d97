"""The delivery log (migrations 300 and 301): how far the dispatcher has read ``findings``
(``alert_state``: the last id, and the last update it has looked at) and when it last
evaluated the lifecycle states, the (token, state) pairs on (``alert_lifecycle``), and one
row per alert (``alert_deliveries``: rule, source, id, status, attempts, last error, times).

An alert is of a finding (source ``finding``, the finding's id) or of a token entering a
lifecycle state (source ``lifecycle``, the ``alert_lifecycle`` id). A delivery is recorded
``pending`` in the same transaction that moves the marks past its finding, or that records
its pair on, then updated after each attempt until it is ``delivered`` or ``failed``. The
row is the queue: a restart resumes the pending ones, and no (rule, source, id) is
recorded twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import duckdb

from tokentrace_backend.queries.timestamps import datetime_from_ns
from tokentrace_backend.storage.sql import load_sql, run

from .findings import FINDING_COLUMNS, Finding
from .lifecycle import LIFECYCLE_COLUMNS, LifecycleAlert, StateChanges
from .results import AlertsOverview, DeliveryView
from .rules import AlertRule

PENDING: Final = "pending"
DELIVERED: Final = "delivered"
FAILED: Final = "failed"
STATUSES: Final = (PENDING, DELIVERED, FAILED)
FINDING: Final = "finding"
LIFECYCLE: Final = "lifecycle"
"""The sources of alerts: a delivery's key is (rule, source, the id in that source)."""


# No sequences, RETURNING or ON CONFLICT here: the same statements run on DuckDB and on
# DuckLake (lake mode), which has none of them. Ids of alert_lifecycle rows follow the
# largest in use (nor below a lifecycle delivery's: ids of deleted rows are not handed out
# again); only the dispatcher's thread inserts them, in the transaction that reads it.
_LIFECYCLE_BASE: Final = (
    "SELECT greatest((SELECT coalesce(max(id), 0) FROM alert_lifecycle),"
    " (SELECT coalesce(max(source_id), 0) FROM alert_deliveries WHERE source = 'lifecycle'))"
)
# The rules of the candidates (rule, id) not recorded before: those that get a delivery.
_NEW_DELIVERIES: Final = (
    "SELECT DISTINCT c.rule_name"
    " FROM (SELECT unnest($rule_names) AS rule_name, unnest($source_ids) AS source_id) AS c"
    " WHERE NOT EXISTS (SELECT 1 FROM alert_deliveries AS d WHERE d.rule_name = c.rule_name"
    " AND d.source = $source AND d.source_id = c.source_id)"
)
_LIFECYCLE_EVALUATED: Final = (
    "MERGE INTO alert_state AS s"
    " USING (SELECT 'lifecycle' AS name, CAST($now_ns AS BIGINT) AS now_ns) AS e"
    " ON s.name = e.name"
    " WHEN MATCHED THEN UPDATE SET last_updated_ns = greatest(s.last_updated_ns, e.now_ns)"
    " WHEN NOT MATCHED THEN INSERT (name, last_finding_id, last_updated_ns)"
    " VALUES (e.name, 0, e.now_ns)"
)


@dataclass(frozen=True)
class Marks:
    """How far the dispatcher has read: findings up to ``finding_id``, changes up to
    ``updated_ns``."""

    finding_id: int
    updated_ns: int


@dataclass(frozen=True)
class PendingDelivery:
    """A delivery still to attempt, with what it is about as it is now: a finding, a
    lifecycle alert, or ``None`` (the finding was deleted)."""

    rule_name: str
    source: str
    source_id: int
    attempts: int
    alert: Finding | LifecycleAlert | None


def read_marks(cursor: duckdb.DuckDBPyConnection) -> Marks:
    """How far the dispatcher has handled the findings."""
    row = cursor.execute(
        "SELECT last_finding_id, last_updated_ns FROM alert_state WHERE name = 'findings'"
    ).fetchone()
    return Marks(int(row[0]), int(row[1])) if row else Marks(0, 0)


def record_handled(
    cursor: duckdb.DuckDBPyConnection,
    deliveries: Sequence[tuple[str, int]],
    marks: Marks,
    now_ns: int,
) -> set[str]:
    """Record ``deliveries`` (rule name, finding id) as pending and move the marks to
    ``marks`` (never back), in one transaction. A (rule, finding) recorded before stays as
    it is: returns the rules that got a new delivery."""
    cursor.execute("BEGIN TRANSACTION")
    try:
        added = _add_pending(cursor, FINDING, deliveries, now_ns)
        cursor.execute(
            "UPDATE alert_state SET last_finding_id = greatest(last_finding_id, $through),"
            " last_updated_ns = greatest(last_updated_ns, $updated) WHERE name = 'findings'",
            {"through": marks.finding_id, "updated": marks.updated_ns},
        )
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise
    return added


def record_lifecycle_changes(
    cursor: duckdb.DuckDBPyConnection,
    changes: StateChanges,
    deliveries: Sequence[tuple[str, int]],
    now_ns: int,
) -> set[str]:
    """Record the pairs of ``changes`` that turned on (new ``alert_lifecycle`` rows) and
    off (their ``off_ns``), the ``deliveries`` (rule name, index in ``changes.entered``) as
    pending, and the evaluation's time, in one transaction. Returns the rules that got a
    new delivery."""
    added: set[str] = set()
    cursor.execute("BEGIN TRANSACTION")
    try:
        if changes.entered:
            row = cursor.execute(_LIFECYCLE_BASE).fetchone()
            base = int(row[0]) if row else 0
            run(
                cursor,
                load_sql("alerts/record_lifecycle_on"),
                {
                    "base": base,
                    "token_ids": [entered.token_id for entered in changes.entered],
                    "states": [entered.state for entered in changes.entered],
                    "owners": [entered.owner for entered in changes.entered],
                    "names": [entered.name for entered in changes.entered],
                    "details": [json.dumps(entered.details) for entered in changes.entered],
                    "now_ns": changes.now_ns,
                },
            )
            # changes.entered[i] got the id base + i + 1 (record_lifecycle_on.sql).
            alerts = [(rule, base + i + 1) for rule, i in deliveries]
            added = _add_pending(cursor, LIFECYCLE, alerts, now_ns)
        if changes.left:
            cursor.execute(
                "UPDATE alert_lifecycle SET off_ns = $now_ns WHERE list_contains($ids, id)",
                {"now_ns": changes.now_ns, "ids": changes.left},
            )
        cursor.execute(_LIFECYCLE_EVALUATED, {"now_ns": changes.now_ns})
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise
    return added


def _add_pending(
    cursor: duckdb.DuckDBPyConnection,
    source: str,
    deliveries: Sequence[tuple[str, int]],
    now_ns: int,
) -> set[str]:
    """Record ``deliveries`` (rule name, id in ``source``) not recorded before as pending;
    returns their rules. Called in the caller's transaction: the rules are read before the
    insert (no RETURNING on DuckLake), and nothing else records deliveries meanwhile (the
    dispatcher's thread alone does)."""
    if not deliveries:
        return set()
    parameters = {
        "source": source,
        "rule_names": [rule for rule, _ in deliveries],
        "source_ids": [source_id for _, source_id in deliveries],
        "now_ns": now_ns,
    }
    rows = run(cursor, _NEW_DELIVERIES, parameters).fetchall()
    if rows:
        run(cursor, load_sql("alerts/record_pending"), parameters)
    return {str(rule) for (rule,) in rows}


def pending_deliveries(
    cursor: duckdb.DuckDBPyConnection, rule_name: str, limit: int
) -> list[PendingDelivery]:
    """The rule's pending deliveries in the order they were recorded, at most ``limit``."""
    rows = run(
        cursor,
        load_sql("alerts/pending_deliveries"),
        {"rule_name": rule_name, "limit": limit},
    ).fetchall()
    lifecycle_from = 3 + FINDING_COLUMNS
    pending = []
    for row in rows:
        alert: Finding | LifecycleAlert | None = None
        if row[3] is not None:
            alert = Finding.from_row(row[3:lifecycle_from])
        elif row[lifecycle_from] is not None:
            alert = LifecycleAlert.from_row(
                row[lifecycle_from : lifecycle_from + LIFECYCLE_COLUMNS]
            )
        pending.append(PendingDelivery(rule_name, row[0], int(row[1]), int(row[2]), alert))
    return pending


def record_attempt(
    cursor: duckdb.DuckDBPyConnection,
    delivery: PendingDelivery,
    *,
    status: str,
    attempts: int,
    http_status: int | None,
    error: str | None,
    now_ns: int,
) -> None:
    """The outcome so far of ``delivery``: ``status`` after ``attempts`` attempts."""
    cursor.execute(
        "UPDATE alert_deliveries SET status = $status, attempts = $attempts,"
        " http_status = $http_status, last_error = $error, updated_at_ns = $now_ns"
        " WHERE rule_name = $rule_name AND source = $source AND source_id = $source_id",
        {
            "status": status,
            "attempts": attempts,
            "http_status": http_status,
            "error": error,
            "now_ns": now_ns,
            "rule_name": delivery.rule_name,
            "source": delivery.source,
            "source_id": delivery.source_id,
        },
    )


def recent_deliveries(cursor: duckdb.DuckDBPyConnection, limit: int) -> list[DeliveryView]:
    """The latest deliveries, newest first (by when they were recorded, then id)."""
    rows = run(cursor, load_sql("alerts/recent_deliveries"), {"limit": limit}).fetchall()
    return [
        DeliveryView(
            rule=rule,
            source=source,
            finding_id=source_id if source == FINDING else None,
            kind=kind,
            severity=severity,
            lifecycle_id=source_id if source == LIFECYCLE else None,
            lifecycle_state=state,
            token_id=token_id,
            status=status,
            attempts=attempts,
            http_status=http_status,
            last_error=last_error,
            queued_at=datetime_from_ns(queued_at_ns),
            updated_at=datetime_from_ns(updated_at_ns),
        )
        for (
            rule,
            source,
            source_id,
            kind,
            severity,
            state,
            token_id,
            status,
            attempts,
            http_status,
            last_error,
            queued_at_ns,
            updated_at_ns,
        ) in rows
    ]


def delivery_counts(cursor: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """(rule, status, deliveries) for every rule and status recorded."""
    rows = cursor.execute(
        "SELECT rule_name, status, count(*) FROM alert_deliveries GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    return [(str(rule), str(status), int(count)) for rule, status, count in rows]


def alerts_overview(
    cursor: duckdb.DuckDBPyConnection, rules: Sequence[AlertRule], *, limit: int
) -> AlertsOverview:
    """The rules (without secrets) and the ``limit`` latest deliveries."""
    return AlertsOverview(
        rules=[rule.view() for rule in rules], deliveries=recent_deliveries(cursor, limit)
    )
