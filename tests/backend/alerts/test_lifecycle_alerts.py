"""Alerts on the lifecycle states of tokens: the dispatcher, at a clock the test sets, over
tokens written into a real DuckDB file's derived tables, posting to real webhooks on
loopback. A (token, state) pair alerts each matching rule once when it turns on, not again
while it stays on, and again after it has turned off and on; the first evaluation of a
database, and a restart, alert nothing that was already on.

Every evaluation records its clock's time with its deliveries, in one transaction: once
``step`` has seen the time it set, every delivery of that evaluation is in the table, which
is how these tests know that nothing more was recorded (rather than by sleeping)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.backend.alerts.stored_findings import deliveries, wait_until
from tests.backend.alerts.stored_tokens import (
    DAY,
    HOUR,
    MINUTE,
    T0,
    Clock,
    add_request,
    add_token,
    evaluated_ns,
    iso,
    pairs_on,
    register,
)
from tests.backend.alerts.webhook_receiver import Received, WebhookReceiver
from tokentrace_backend.alerts import AlertDispatcher, AlertRule, DeliveryPolicy, parse_rules
from tokentrace_backend.settings import LifecycleSettings
from tokentrace_backend.storage import Database

OLD = "0a" * 16
NEW = "0b" * 16
CI = "0c" * 16
PARTNER = "0d" * 16
OTHER = "0e" * 16
NEVER_USED = "0f" * 16
FAST = DeliveryPolicy(attempts=3, timeout_seconds=2.0, backoff_seconds=0.05)


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def start(clock: Clock) -> Iterator[Callable[..., AlertDispatcher]]:
    """``start(database, rules)``: a dispatcher that evaluates the states every 50 ms at
    ``clock``, returned once its first evaluation is recorded (stopped after the test)."""
    started: list[AlertDispatcher] = []

    def start_dispatcher(
        database: Database, rules: Sequence[AlertRule], policy: DeliveryPolicy = FAST
    ) -> AlertDispatcher:
        dispatcher = AlertDispatcher(
            database,
            rules,
            thresholds=LifecycleSettings(),
            policy=policy,
            poll_seconds=0.05,
            lifecycle_poll_seconds=0.05,
            clock_ns=clock,
        )
        dispatcher.start()
        started.append(dispatcher)
        wait_until(lambda: evaluated_ns(database) >= clock.now_ns, what="the first evaluation")
        return dispatcher

    yield start_dispatcher
    for dispatcher in started:
        dispatcher.stop()


def rules(*tables: dict[str, Any]) -> tuple[AlertRule, ...]:
    return parse_rules({"rules": list(tables)}, source="test")


def step(database: Database, clock: Clock, now_ns: int) -> None:
    """Set the clock, and wait for an evaluation at it (it began after everything written
    before, and its deliveries are recorded)."""
    clock.now_ns = now_ns
    wait_until(lambda: evaluated_ns(database) >= now_ns, what=f"an evaluation at {iso(now_ns)}")


def lifecycle_deliveries(database: Database) -> list[tuple[str, int]]:
    return sorted(deliveries(database, "lifecycle"))


def about(alert: Received) -> tuple[str, str]:
    tokentrace = alert.body["tokentrace"]
    return tokentrace["token_id"], tokentrace["lifecycle_state"]


def test_a_token_used_after_its_rotation_alerts_once_with_its_clients_and_lag(
    database: Database, hooks: WebhookReceiver, clock: Clock, start: Callable[..., AlertDispatcher]
) -> None:
    add_token(database, OLD, 1, owner="svc:ci", name="deploy")
    add_request(database, 1, T0 - 2 * HOUR, client="10.0.0.1")
    add_request(database, 1, T0 - 2 * HOUR, client="10.0.0.2", user_agent="cron/1.0")
    start(
        database,
        rules(
            {
                "name": "rotations",
                "lifecycle_states": ["rotated_still_used"],
                "webhook_url": hooks.url("/rotations"),
            },
            {
                "name": "others",
                "kinds": "all",
                "lifecycle_states": ["stale", "expiring_soon"],
                "webhook_url": hooks.url("/others"),
            },
        ),
    )
    register(database, "rotated", OLD, T0 - HOUR, new_token_id=NEW, actor="ops")
    step(database, clock, T0 + MINUTE)  # rotated, and not used since: not in the state
    assert pairs_on(database) == []

    add_request(database, 1, T0 + 10 * MINUTE, client="10.0.0.2", user_agent="cron/1.0")
    step(database, clock, T0 + 15 * MINUTE)
    [alert] = hooks.wait_for("/rotations", 1)
    summary = (
        f"still used after it was rotated at {iso(T0 - HOUR)} (new token {NEW}): 1 request "
        "since, the last 1 h 10 min after it, from 10.0.0.2 (cron/1.0)"
    )
    body = alert.body
    assert body["text"] == (
        f'[LIFECYCLE] rotated_still_used — token {OLD} (svc:ci, "deploy"): {summary}'
    )
    assert body["blocks"][0]["text"]["text"].startswith("*[LIFECYCLE] rotated_still_used*")
    assert body["tokentrace"] == {
        "rule": "rotations",
        "lifecycle_id": body["tokentrace"]["lifecycle_id"],
        "lifecycle_state": "rotated_still_used",
        "token_id": OLD,
        "owner": "svc:ci",
        "name": "deploy",
        "entered_at": iso(T0 + 15 * MINUTE),
        "summary": summary,
        "details": {
            "event": "rotated",
            "rotated_at": iso(T0 - HOUR),
            "source": "api",
            "new_token_id": NEW,
            "requests_after": 1,
            "last_used_after": iso(T0 + 10 * MINUTE),
            "lag_ms": 70 * 60_000.0,
            "clients": [
                {
                    "address": "10.0.0.2",
                    "user_agent": "cron/1.0",
                    "requests": 1,
                    "last_used": iso(T0 + 10 * MINUTE),
                }
            ],
        },
    }
    first_id = body["tokentrace"]["lifecycle_id"]

    # Still used, from another client: still on, nothing new for anyone.
    add_request(database, 1, T0 + 20 * MINUTE, client="10.0.0.3", user_agent="curl/8.5")
    step(database, clock, T0 + 30 * MINUTE)
    assert pairs_on(database) == [(OLD, "rotated_still_used")]
    assert lifecycle_deliveries(database) == [("rotations", first_id)]

    # Quiet for the in-use window: off. Used again: on again, and alerted again.
    step(database, clock, T0 + 20 * MINUTE + DAY)
    assert pairs_on(database) == []
    add_request(database, 1, T0 + 21 * MINUTE + DAY, client="10.0.0.3", user_agent="curl/8.5")
    step(database, clock, T0 + 22 * MINUTE + DAY)
    _, again = hooks.wait_for("/rotations", 2)
    assert again.body["tokentrace"]["lifecycle_id"] > first_id
    details = again.body["tokentrace"]["details"]
    assert details["requests_after"] == 3
    assert [client["address"] for client in details["clients"]] == ["10.0.0.3", "10.0.0.2"]
    assert lifecycle_deliveries(database) == [
        ("rotations", first_id),
        ("rotations", again.body["tokentrace"]["lifecycle_id"]),
    ]
    assert hooks.received("/others") == []  # the stale and expiring rule: never recorded


def test_a_token_in_use_close_to_its_expiry_alerts_once_retried_like_any_alert(
    database: Database, hooks: WebhookReceiver, clock: Clock, start: Callable[..., AlertDispatcher]
) -> None:
    hooks.script("/expiring", 503, then=200)
    add_token(database, OLD, 1, owner="svc:ci")
    add_request(database, 1, T0 - HOUR)
    register(database, "created", OLD, T0 - DAY, expires_ns=T0 + 8 * DAY)
    start(
        database,
        rules(
            {
                "name": "expiring",
                "lifecycle_states": ["expiring_soon"],
                "webhook_url": hooks.url("/expiring"),
            }
        ),
    )
    step(database, clock, T0 + MINUTE)  # 8 days left: outside the 7-day window
    assert pairs_on(database) == []

    add_request(database, 1, T0 + DAY)
    step(database, clock, T0 + DAY + HOUR)  # 6 d 23 h left, used an hour ago
    failed, delivered = hooks.wait_for("/expiring", 2)
    assert failed.body == delivered.body  # a retry sends the same body
    assert delivered.body["text"] == (
        f"[LIFECYCLE] expiring_soon — token {OLD} (svc:ci): expires {iso(T0 + 8 * DAY)} "
        f"(in 6 d 23 h), still in use, last request {iso(T0 + DAY)}"
    )
    assert delivered.body["tokentrace"]["details"] == {
        "expires_at": iso(T0 + 8 * DAY),
        "last_used": iso(T0 + DAY),
    }
    lifecycle_id = delivered.body["tokentrace"]["lifecycle_id"]
    row = wait_until(
        lambda: (
            (row := deliveries(database, "lifecycle").get(("expiring", lifecycle_id)))
            and row["status"] == "delivered"
            and row
        ),
        what="the delivery recorded",
    )
    assert (row["attempts"], row["http_status"], row["last_error"]) == (2, 200, None)

    add_request(database, 1, T0 + DAY + 2 * HOUR)
    step(database, clock, T0 + DAY + 3 * HOUR)  # still expiring soon: no new alert
    assert pairs_on(database) == [(OLD, "expiring_soon")]
    assert lifecycle_deliveries(database) == [("expiring", lifecycle_id)]


def test_an_unused_token_alerts_once_stale_and_again_after_it_was_used(
    database: Database, hooks: WebhookReceiver, clock: Clock, start: Callable[..., AlertDispatcher]
) -> None:
    add_token(database, OLD, 1, owner="svc:ci")
    add_request(database, 1, T0 - 29 * DAY)
    register(database, "created", NEVER_USED, T0 - 29 * DAY - HOUR)  # known by its event only
    start(
        database,
        rules({"name": "stale", "lifecycle_states": ["stale"], "webhook_url": hooks.url("/stale")}),
    )
    step(database, clock, T0 + MINUTE)
    assert pairs_on(database) == []

    step(database, clock, T0 + DAY)
    alerts = {about(alert): alert for alert in hooks.wait_for("/stale", 2)}
    assert sorted(alerts) == [(OLD, "stale"), (NEVER_USED, "stale")]
    assert alerts[(OLD, "stale")].body["text"] == (
        f"[LIFECYCLE] stale — token {OLD} (svc:ci): unused since {iso(T0 - 29 * DAY)} "
        "(30 d 0 h); neither revoked nor expired"
    )
    assert alerts[(OLD, "stale")].body["tokentrace"]["details"] == {
        "last_used": iso(T0 - 29 * DAY),
        "unused_since": iso(T0 - 29 * DAY),
    }
    never = alerts[(NEVER_USED, "stale")].body
    assert never["text"] == (
        f"[LIFECYCLE] stale — token {NEVER_USED}: never used, known since "
        f"{iso(T0 - 29 * DAY - HOUR)} (30 d 1 h); neither revoked nor expired"
    )
    assert (never["tokentrace"]["owner"], never["tokentrace"]["details"]["last_used"]) == (
        None,
        None,
    )
    first_id = alerts[(OLD, "stale")].body["tokentrace"]["lifecycle_id"]

    step(database, clock, T0 + 2 * DAY)  # still stale: nothing new
    assert len(lifecycle_deliveries(database)) == 2

    add_request(database, 1, T0 + 2 * DAY + MINUTE)  # used again: off
    register(database, "revoked", NEVER_USED, T0 + 2 * DAY)  # revoked: not stale
    step(database, clock, T0 + 2 * DAY + 2 * MINUTE)
    assert pairs_on(database) == []
    with database.reader() as cursor:
        off = cursor.execute(
            "SELECT token_id, off_ns FROM alert_lifecycle ORDER BY token_id"
        ).fetchall()
    assert off == [(OLD, T0 + 2 * DAY + 2 * MINUTE), (NEVER_USED, T0 + 2 * DAY + 2 * MINUTE)]

    step(database, clock, T0 + 32 * DAY + 2 * MINUTE)  # unused for 30 days again: alerted again
    *_, again = hooks.wait_for("/stale", 3)
    assert about(again) == (OLD, "stale")
    assert again.body["tokentrace"]["lifecycle_id"] > first_id
    assert again.body["tokentrace"]["details"]["last_used"] == iso(T0 + 2 * DAY + MINUTE)
    assert len(lifecycle_deliveries(database)) == 3


def test_rules_select_states_tokens_and_owners(
    database: Database, hooks: WebhookReceiver, clock: Clock, start: Callable[..., AlertDispatcher]
) -> None:
    for number, (token, owner) in enumerate(
        ((CI, "svc:ci"), (PARTNER, "partner:acme"), (OTHER, "svc:other")), start=1
    ):
        add_token(database, token, number, owner=owner)
        add_request(database, number, T0 - 30 * DAY + HOUR)
    start(
        database,
        rules(
            {
                "name": "ci",
                "lifecycle_states": ["stale"],
                "owners": ["svc:ci"],
                "webhook_url": hooks.url("/ci"),
            },
            {
                "name": "partner",
                "lifecycle_states": ["stale"],
                "token_ids": [PARTNER.upper()],
                "webhook_url": hooks.url("/partner"),
            },
            {
                "name": "either",
                "lifecycle_states": ["stale", "rotated_still_used"],
                "token_ids": [OTHER],
                "owners": ["svc:ci"],
                "webhook_url": hooks.url("/either"),
            },
            {"name": "all", "lifecycle_states": ["stale"], "webhook_url": hooks.url("/all")},
            {
                "name": "expiring",
                "lifecycle_states": ["expiring_soon"],
                "webhook_url": hooks.url("/expiring"),
            },
            {"name": "findings", "kinds": "all", "webhook_url": hooks.url("/findings")},
        ),
    )
    step(database, clock, T0 + 2 * HOUR)  # all three are stale now

    def tokens(path: str, count: int) -> list[str]:
        return sorted(about(alert)[0] for alert in hooks.wait_for(path, count))

    assert tokens("/ci", 1) == [CI]
    assert tokens("/partner", 1) == [PARTNER]
    assert tokens("/either", 2) == sorted([CI, OTHER])
    assert tokens("/all", 3) == sorted([CI, PARTNER, OTHER])
    assert sorted({rule for rule, _ in lifecycle_deliveries(database)}) == [
        "all",
        "ci",
        "either",
        "partner",
    ]
    assert len(lifecycle_deliveries(database)) == 7
    assert len(hooks.received()) == 7


def test_states_on_at_the_first_evaluation_or_across_a_restart_are_not_alerted(
    tmp_path: Path, hooks: WebhookReceiver, clock: Clock, start: Callable[..., AlertDispatcher]
) -> None:
    path = tmp_path / "lifecycle.duckdb"
    configured = rules(
        {"name": "stale", "lifecycle_states": ["stale"], "webhook_url": hooks.url("/stale")}
    )
    database = Database(path)
    add_token(database, OLD, 1)
    add_request(database, 1, T0 - 40 * DAY)  # stale before alerting ever looked
    add_token(database, NEW, 2)
    add_request(database, 2, T0 - 29 * DAY)
    dispatcher = start(database, configured)
    assert pairs_on(database) == [(OLD, "stale")]  # recorded on, not alerted
    step(database, clock, T0 + MINUTE)
    dispatcher.stop()
    database.close()

    database = Database(path)  # a restart: new process state, the same file
    restarted = start(database, configured)
    try:
        step(database, clock, T0 + DAY)  # the other token turns stale
        [alert] = hooks.wait_for("/stale", 1)
        assert about(alert) == (NEW, "stale")
        assert pairs_on(database) == [(OLD, "stale"), (NEW, "stale")]
        assert [rule for rule, _ in lifecycle_deliveries(database)] == ["stale"]
    finally:
        restarted.stop()
        database.close()
