"""The dispatcher against real webhooks on loopback and findings written into a real
DuckDB file: one alert per finding and rule, retries with back-off, timeouts that hold up
nothing else, and no alert twice across updates and restarts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.backend.alerts.stored_findings import (
    OTHER_TOKEN,
    TOKEN,
    add_evidence,
    deliveries,
    insert_finding,
    insert_token,
    last_handled,
    wait_until,
)
from tests.backend.alerts.webhook_receiver import HANG, TRICKLE, WebhookReceiver
from tokentrace_backend.alerts import AlertDispatcher, AlertRule, DeliveryPolicy, parse_rules
from tokentrace_backend.settings import LifecycleSettings
from tokentrace_backend.storage import Database

FAST = DeliveryPolicy(attempts=3, timeout_seconds=2.0, backoff_seconds=0.05)


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def dispatch() -> Iterator[Callable[..., AlertDispatcher]]:
    """Start dispatchers (stopped after the test): ``dispatch(database, rules, policy)``."""
    started: list[AlertDispatcher] = []

    def start(
        database: Database, rules: Sequence[AlertRule], policy: DeliveryPolicy = FAST
    ) -> AlertDispatcher:
        dispatcher = AlertDispatcher(
            database, rules, policy=policy, poll_seconds=0.05, thresholds=LifecycleSettings()
        )
        dispatcher.start()
        started.append(dispatcher)
        return dispatcher

    yield start
    for dispatcher in started:
        dispatcher.stop()


def rules(*tables: dict[str, Any]) -> tuple[AlertRule, ...]:
    return parse_rules({"rules": list(tables)}, source="test")


def test_a_finding_is_posted_once_to_each_matching_rule(
    database: Database, hooks: WebhookReceiver, dispatch: Callable[..., AlertDispatcher]
) -> None:
    insert_token(database, TOKEN, "svc:ci")
    configured = rules(
        {
            "name": "everything",
            "kinds": "all",
            "webhook_url": hooks.url("/all?channel=sec"),
            "headers": {"X-Webhook-Secret": "s3cret-header"},
        },
        {
            "name": "high",
            "kinds": ["new_network"],
            "min_severity": "high",
            "webhook_url": hooks.url("/high"),
        },
        {
            "name": "critical",
            "kinds": "all",
            "min_severity": "critical",
            "webhook_url": hooks.url("/critical"),
        },
        {"name": "bursts", "kinds": ["burst"], "webhook_url": hooks.url("/bursts")},
        {"name": "ci", "kinds": "all", "owners": ["svc:ci"], "webhook_url": hooks.url("/ci")},
    )
    dispatch(database, configured)
    finding_id = insert_finding(database, severity="high")

    [alert] = hooks.wait_for("/all?channel=sec", 1)
    hooks.wait_for("/high", 1)
    hooks.wait_for("/ci", 1)
    assert alert.headers["X-Webhook-Secret"] == "s3cret-header"
    assert alert.headers["Content-Type"] == "application/json"
    body = alert.body
    assert body["text"] == (
        f"[HIGH] new_network — token {TOKEN} (svc:ci), from 203.0.113.0/24: "
        "first request from 203.0.113.0/24; 2 networks known"
    )
    assert body["blocks"][0]["type"] == "section"
    assert body["blocks"][0]["text"]["type"] == "mrkdwn"
    assert "*[HIGH] new_network*" in body["blocks"][0]["text"]["text"]
    assert f"finding {finding_id}" in body["blocks"][1]["elements"][0]["text"]
    tokentrace = body["tokentrace"]
    assert tokentrace.pop("detected_at").endswith("Z")
    assert tokentrace.pop("updated_at").endswith("Z")
    assert tokentrace == {
        "rule": "everything",
        "finding_id": finding_id,
        "kind": "new_network",
        "severity": "high",
        "state": "open",
        "token_id": TOKEN,
        "owner": "svc:ci",
        "client_address": "203.0.113.0/24",
        "subject": "203.0.113.0/24",
        "summary": "first request from 203.0.113.0/24; 2 networks known",
        "baseline": {"networks": ["198.51.100.0/24", "192.0.2.0/24"]},
        "evidence": {"trace_ids": ["4bf92f3577b34da6a3ce929d0e0e4736"], "counts": {"requests": 3}},
        "first_seen": "2026-05-28T20:26:40Z",
        "last_seen": "2026-05-28T20:26:45Z",
    }
    # The finding's deliveries are recorded together, so the rules it did not match are
    # known by now: exactly the three that matched.
    recorded = wait_until(
        lambda: (
            (rows := deliveries(database))
            and all(row["status"] == "delivered" for row in rows.values())
            and rows
        ),
        what="three deliveries",
    )
    assert sorted(recorded) == [
        ("ci", finding_id),
        ("everything", finding_id),
        ("high", finding_id),
    ]
    assert {
        (row["attempts"], row["http_status"], row["last_error"]) for row in recorded.values()
    } == {(1, 200, None)}
    assert len(hooks.received()) == 3


def test_a_failing_webhook_is_retried_with_exponential_back_off(
    database: Database, hooks: WebhookReceiver, dispatch: Callable[..., AlertDispatcher]
) -> None:
    hooks.script("/flaky", 500, 503, then=200)
    policy = DeliveryPolicy(attempts=5, timeout_seconds=2.0, backoff_seconds=0.2)
    dispatch(
        database,
        rules({"name": "flaky", "kinds": "all", "webhook_url": hooks.url("/flaky")}),
        policy,
    )
    finding_id = insert_finding(database)

    first, second, third = hooks.wait_for("/flaky", 3)
    assert {first.finding_id, second.finding_id, third.finding_id} == {finding_id}
    first_wait, second_wait = second.at - first.at, third.at - second.at
    assert 0.18 <= first_wait < 1.0
    assert 0.38 <= second_wait < 1.5
    assert second_wait > 1.5 * first_wait  # doubled, not constant
    row = wait_until(
        lambda: (
            (row := deliveries(database).get(("flaky", finding_id)))
            and row["status"] == "delivered"
            and row
        ),
        what="the delivery recorded",
    )
    assert (row["attempts"], row["http_status"], row["last_error"]) == (3, 200, None)


def test_attempts_are_bounded_and_the_last_error_recorded(
    database: Database, hooks: WebhookReceiver, dispatch: Callable[..., AlertDispatcher]
) -> None:
    hooks.script("/down", then=500)
    dispatch(database, rules({"name": "down", "kinds": "all", "webhook_url": hooks.url("/down")}))
    finding_id = insert_finding(database)

    row = wait_until(
        lambda: (
            (row := deliveries(database).get(("down", finding_id)))
            and row["status"] == "failed"
            and row
        ),
        what="the delivery to fail",
    )
    assert (row["attempts"], row["http_status"]) == (3, 500)
    assert row["last_error"] == "HTTP 500 Internal Server Error: scripted failure"
    assert len(hooks.received("/down")) == 3


def test_a_refusing_webhook_is_not_retried(
    database: Database, hooks: WebhookReceiver, dispatch: Callable[..., AlertDispatcher]
) -> None:
    hooks.script("/gone", then=410)
    dispatch(database, rules({"name": "gone", "kinds": "all", "webhook_url": hooks.url("/gone")}))
    finding_id = insert_finding(database)

    row = wait_until(
        lambda: (
            (row := deliveries(database).get(("gone", finding_id)))
            and row["status"] == "failed"
            and row
        ),
        what="the delivery to fail",
    )
    assert (row["attempts"], row["http_status"]) == (1, 410)
    assert row["last_error"].startswith("HTTP 410 Gone")


def test_a_hanging_webhook_times_out_and_holds_up_nothing_else(
    database: Database, hooks: WebhookReceiver, dispatch: Callable[..., AlertDispatcher]
) -> None:
    hooks.script("/hang", then=HANG)
    policy = DeliveryPolicy(attempts=2, timeout_seconds=1.5, backoff_seconds=0.05)
    dispatch(
        database,
        rules(
            {"name": "hangs", "kinds": "all", "webhook_url": hooks.url("/hang")},
            {"name": "works", "kinds": "all", "webhook_url": hooks.url("/ok")},
        ),
        policy,
    )
    first = insert_finding(database)
    hooks.wait_for("/hang", 1, finding_id=first)  # the hanging attempt has begun
    hooks.wait_for("/ok", 1, finding_id=first)

    # While the hanging rule waits, findings keep being written and handled, and the other
    # rule's alerts go out at once.
    started = time.monotonic()
    second = insert_finding(database, kind="burst", severity="medium")
    assert time.monotonic() - started < 0.5  # a detector's write is not held up
    [other] = hooks.wait_for("/ok", 1, finding_id=second)
    assert other.at - started < 1.0
    assert deliveries(database)[("hangs", first)]["status"] == "pending"

    failed = wait_until(
        lambda: (
            (row := deliveries(database).get(("hangs", first)))
            and row["status"] == "failed"
            and row
        ),
        what="the hanging delivery to fail",
    )
    assert (failed["attempts"], failed["http_status"]) == (2, None)
    assert failed["last_error"] == "timed out after 1.5 s"
    attempts = hooks.wait_for("/hang", 2, finding_id=first)
    assert len(attempts) == 2
    assert attempts[1].at - attempts[0].at >= 1.5  # the attempt ran to its deadline
    # ...and the hanging rule then goes on with the next finding.
    hooks.wait_for("/hang", 1, finding_id=second)


def test_a_trickling_webhook_is_cut_at_the_attempts_deadline(
    database: Database, hooks: WebhookReceiver, dispatch: Callable[..., AlertDispatcher]
) -> None:
    # Every read gets a byte within 0.2 s, so only a deadline on the whole attempt ends it.
    hooks.script("/slow", then=TRICKLE)
    policy = DeliveryPolicy(attempts=1, timeout_seconds=1.0)
    dispatch(
        database, rules({"name": "slow", "kinds": "all", "webhook_url": hooks.url("/slow")}), policy
    )
    finding_id = insert_finding(database)
    hooks.wait_for("/slow", 1)
    row = wait_until(
        lambda: (
            (row := deliveries(database).get(("slow", finding_id)))
            and row["status"] == "failed"
            and row
        ),
        timeout=10,
        what="the slow delivery to fail",
    )
    assert row["last_error"] == "timed out after 1 s"
    assert row["updated_at_ns"] - row["queued_at_ns"] < 3 * 1_000_000_000


def test_an_updated_finding_is_not_alerted_again_nor_is_anything_after_a_restart(
    tmp_path: Path, hooks: WebhookReceiver, dispatch: Callable[..., AlertDispatcher]
) -> None:
    path = tmp_path / "alerts.duckdb"
    configured = rules({"name": "all", "kinds": "all", "webhook_url": hooks.url("/ok")})
    database = Database(path)
    dispatcher = dispatch(database, configured)
    first = insert_finding(database)
    hooks.wait_for("/ok", 1, finding_id=first)

    add_evidence(database, first)  # the same incident, more evidence: no new alert
    second = insert_finding(database, token_id=OTHER_TOKEN)
    hooks.wait_for("/ok", 1, finding_id=second)  # handled after the update was visible
    wait_until(lambda: deliveries(database)[("all", second)]["status"] == "delivered")
    dispatcher.stop()
    database.close()

    database = Database(path)  # a restart: new process state, the same file
    restarted = dispatch(database, configured)
    try:
        third = insert_finding(database, kind="burst")
        hooks.wait_for("/ok", 1, finding_id=third)
        assert [alert.finding_id for alert in hooks.received("/ok")] == [first, second, third]
        assert last_handled(database) == third
    finally:
        restarted.stop()
        database.close()


def test_a_finding_whose_severity_rises_reaches_the_rules_it_matches_now_once(
    database: Database, hooks: WebhookReceiver, dispatch: Callable[..., AlertDispatcher]
) -> None:
    dispatch(
        database,
        rules(
            {"name": "all", "kinds": "all", "webhook_url": hooks.url("/all")},
            {
                "name": "critical",
                "kinds": "all",
                "min_severity": "critical",
                "webhook_url": hooks.url("/critical"),
            },
        ),
    )
    rising = insert_finding(database, severity="medium")
    hooks.wait_for("/all", 1, finding_id=rising)
    add_evidence(database, rising)  # now critical
    hooks.wait_for("/critical", 1, finding_id=rising)
    add_evidence(database, rising)  # still critical: nothing new for anyone

    resolved = insert_finding(database, kind="burst", severity="medium")
    hooks.wait_for("/all", 1, finding_id=resolved)
    with database.reader() as cursor:  # raised, but resolved: too late to alert on
        cursor.execute(
            "UPDATE findings SET severity = 'critical', state = 'resolved', updated_at_ns = ?"
            " WHERE id = ?",
            [time.time_ns(), resolved],
        )
    marker = insert_finding(database, kind="shared_token", severity="critical")
    hooks.wait_for("/all", 1, finding_id=marker)
    hooks.wait_for("/critical", 1, finding_id=marker)
    assert [a.finding_id for a in hooks.received("/all")] == [rising, resolved, marker]
    assert [a.finding_id for a in hooks.received("/critical")] == [rising, marker]
    assert hooks.received("/critical")[0].body["tokentrace"]["severity"] == "critical"


def test_an_alert_in_flight_at_stop_is_sent_after_the_restart(
    database: Database, hooks: WebhookReceiver, dispatch: Callable[..., AlertDispatcher]
) -> None:
    hooks.script("/later", HANG, then=200)
    configured = rules({"name": "later", "kinds": "all", "webhook_url": hooks.url("/later")})
    dispatcher = dispatch(database, configured, DeliveryPolicy(attempts=3, timeout_seconds=30))
    finding_id = insert_finding(database)
    hooks.wait_for("/later", 1)
    stopped = time.monotonic()
    dispatcher.stop()
    assert time.monotonic() - stopped < 5  # stopping does not wait for the webhook
    assert deliveries(database)[("later", finding_id)]["status"] == "pending"

    dispatch(database, configured)
    hooks.wait_for("/later", 2)
    row = wait_until(
        lambda: (
            (row := deliveries(database)[("later", finding_id)])["status"] == "delivered" and row
        )
    )
    assert row["attempts"] == 1  # the abandoned attempt was never recorded as one


def test_without_rules_findings_are_still_marked_seen(
    database: Database, hooks: WebhookReceiver, dispatch: Callable[..., AlertDispatcher]
) -> None:
    dispatcher = dispatch(database, ())
    before = insert_finding(database)
    wait_until(lambda: last_handled(database) == before, what="the mark to move")
    dispatcher.stop()

    dispatch(database, rules({"name": "all", "kinds": "all", "webhook_url": hooks.url("/ok")}))
    after = insert_finding(database)
    hooks.wait_for("/ok", 1, finding_id=after)
    assert [alert.finding_id for alert in hooks.received()] == [after]


def test_alerting_added_to_a_database_starts_after_its_findings(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    database = Database(path)
    with database.reader() as cursor:  # a database from before migrations 300 and 301
        cursor.execute("DROP TABLE alert_deliveries")
        cursor.execute("DROP TABLE alert_state")
        cursor.execute("DROP TABLE alert_lifecycle")
        cursor.execute("DROP SEQUENCE alert_lifecycle_ids")
        cursor.execute("DELETE FROM schema_version WHERE version IN (300, 301)")
    insert_finding(database)
    newest = insert_finding(database)
    database.close()

    database = Database(path)
    try:
        assert last_handled(database) == newest
    finally:
        database.close()


def test_the_deliveries_of_a_database_from_before_migration_301_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    database = Database(path)
    finding_id = insert_finding(database)
    with database.reader() as cursor:  # the tables as migration 300 left them, one delivery
        cursor.execute("DROP TABLE alert_lifecycle")
        cursor.execute("DROP SEQUENCE alert_lifecycle_ids")
        cursor.execute("DELETE FROM alert_state WHERE name = 'lifecycle'")
        cursor.execute("DROP TABLE alert_deliveries")
        cursor.execute(
            "CREATE TABLE alert_deliveries (rule_name VARCHAR NOT NULL, finding_id UBIGINT NOT"
            " NULL, status VARCHAR NOT NULL, attempts UINTEGER NOT NULL DEFAULT 0, http_status"
            " USMALLINT, last_error VARCHAR, queued_at_ns BIGINT NOT NULL, updated_at_ns BIGINT"
            " NOT NULL, PRIMARY KEY (rule_name, finding_id))"
        )
        cursor.execute(
            "INSERT INTO alert_deliveries VALUES ('all', ?, 'failed', 5, 503, 'HTTP 503', 1, 2)",
            [finding_id],
        )
        cursor.execute("DELETE FROM schema_version WHERE version = 301")
    database.close()

    database = Database(path)  # migration 301 runs
    try:
        assert deliveries(database) == {
            ("all", finding_id): {
                "status": "failed",
                "attempts": 5,
                "http_status": 503,
                "last_error": "HTTP 503",
                "queued_at_ns": 1,
                "updated_at_ns": 2,
            }
        }
        assert deliveries(database, "lifecycle") == {}
        with database.reader() as cursor:
            assert cursor.execute(
                "SELECT last_updated_ns FROM alert_state WHERE name = 'lifecycle'"
            ).fetchall() == [(0,)]
    finally:
        database.close()
