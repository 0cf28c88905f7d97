"""``GET /api/alerts`` over HTTP, with TOKENTRACE_API_KEY set: the rules without their
secrets and the deliveries (of findings and of lifecycle states) newest first."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.backend.alerts.stored_findings import OTHER_TOKEN, TOKEN, insert_finding
from tests.loopback import serve_asgi
from tokentrace_backend.alerts import AlertRule, parse_rules
from tokentrace_backend.alerts.delivery_log import (
    DELIVERED,
    FAILED,
    LIFECYCLE,
    Marks,
    PendingDelivery,
    record_attempt,
    record_handled,
    record_lifecycle_changes,
)
from tokentrace_backend.alerts.lifecycle import EnteredState, StateChanges
from tokentrace_backend.api import create_api_app
from tokentrace_backend.storage import Database

KEY = "alerts-api-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
T0 = 1_780_000_000_000_000_000

RULES = parse_rules(
    {
        "rules": [
            {
                "name": "security-oncall",
                "kinds": ["new_network", "credential_stuffing"],
                "min_severity": "high",
                "owners": ["svc:ci"],
                "webhook_url": "https://hooks.slack.com/services/T01/B02/slack-path-secret",
            },
            {
                "name": "audit",
                "kinds": "all",
                "token_ids": [TOKEN],
                "webhook_url": "https://bot:basic-secret@audit.example.test:8443/in?key=query-secret",
                "headers": {"X-Audit-Secret": "header-secret"},
            },
            {
                "name": "rotations",
                "lifecycle_states": ["rotated_still_used", "stale"],
                "owners": ["svc:ci"],
                "webhook_url": "https://hooks.slack.com/services/T01/B03/other-secret",
            },
        ]
    },
    source="test",
)


@pytest.fixture
def protected_url(database: Database) -> Iterator[str]:
    app = create_api_app(database, api_key=KEY, alert_rules=RULES)
    with serve_asgi(app, lifespan="off") as url:
        yield url


def record(
    database: Database, rule: AlertRule, finding_id: int, at_ns: int, status: str, error: str | None
) -> None:
    with database.reader() as cursor:
        record_handled(cursor, [(rule.name, finding_id)], Marks(finding_id, 0), at_ns)
        record_attempt(
            cursor,
            PendingDelivery(rule.name, "finding", finding_id, 0, None),
            status=status,
            attempts=1 if status == DELIVERED else 5,
            http_status=200 if status == DELIVERED else 503,
            error=error,
            now_ns=at_ns + 1_000_000_000,
        )


def record_entered(database: Database, rule: AlertRule, at_ns: int) -> int:
    """A token that entered rotated_still_used at ``at_ns``, alerted to ``rule`` (pending)."""
    entered = EnteredState(OTHER_TOKEN, "rotated_still_used", "svc:ci", "deploy", {})
    changes = StateChanges(now_ns=at_ns, entered=[entered], left=[], on=1, first=False)
    with database.reader() as cursor:
        record_lifecycle_changes(cursor, changes, [(rule.name, 0)], at_ns)
        [(lifecycle_id,)] = cursor.execute("SELECT id FROM alert_lifecycle").fetchall()
    return int(lifecycle_id)


def test_the_rules_and_the_deliveries_newest_first(protected_url: str, database: Database) -> None:
    oncall, audit, rotations = RULES
    first = insert_finding(database, severity="critical")
    second = insert_finding(database, kind="burst", token_id=OTHER_TOKEN, severity="low")
    record(database, oncall, first, T0, DELIVERED, None)
    record(database, audit, first, T0, FAILED, "HTTP 503 Service Unavailable")
    record(database, audit, second, T0 + 60_000_000_000, DELIVERED, None)
    entered = record_entered(database, rotations, T0 + 120_000_000_000)

    response = httpx.get(protected_url + "/api/alerts", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["rules"] == [
        {
            "name": "security-oncall",
            "kinds": ["new_network", "credential_stuffing"],
            "min_severity": "high",
            "lifecycle_states": [],
            "token_ids": [],
            "owners": ["svc:ci"],
            "webhook": "https://hooks.slack.com/…",
        },
        {
            "name": "audit",
            "kinds": "all",
            "min_severity": "low",
            "lifecycle_states": [],
            "token_ids": [TOKEN],
            "owners": [],
            "webhook": "https://audit.example.test:8443/…",
        },
        {
            "name": "rotations",
            "kinds": [],
            "min_severity": "low",
            "lifecycle_states": ["rotated_still_used", "stale"],
            "token_ids": [],
            "owners": ["svc:ci"],
            "webhook": "https://hooks.slack.com/…",
        },
    ]
    assert body["deliveries"] == [
        {
            "rule": "rotations",
            "source": "lifecycle",
            "finding_id": None,
            "kind": None,
            "severity": None,
            "lifecycle_id": entered,
            "lifecycle_state": "rotated_still_used",
            "token_id": OTHER_TOKEN,
            "status": "pending",
            "attempts": 0,
            "http_status": None,
            "last_error": None,
            "queued_at": "2026-05-28T20:28:40Z",
            "updated_at": "2026-05-28T20:28:40Z",
        },
        {
            "rule": "audit",
            "source": "finding",
            "finding_id": second,
            "kind": "burst",
            "severity": "low",
            "lifecycle_id": None,
            "lifecycle_state": None,
            "token_id": OTHER_TOKEN,
            "status": "delivered",
            "attempts": 1,
            "http_status": 200,
            "last_error": None,
            "queued_at": "2026-05-28T20:27:40Z",
            "updated_at": "2026-05-28T20:27:41Z",
        },
        {
            "rule": "audit",
            "source": "finding",
            "finding_id": first,
            "kind": "new_network",
            "severity": "critical",
            "lifecycle_id": None,
            "lifecycle_state": None,
            "token_id": TOKEN,
            "status": "failed",
            "attempts": 5,
            "http_status": 503,
            "last_error": "HTTP 503 Service Unavailable",
            "queued_at": "2026-05-28T20:26:40Z",
            "updated_at": "2026-05-28T20:26:41Z",
        },
        {
            "rule": "security-oncall",
            "source": "finding",
            "finding_id": first,
            "kind": "new_network",
            "severity": "critical",
            "lifecycle_id": None,
            "lifecycle_state": None,
            "token_id": TOKEN,
            "status": "delivered",
            "attempts": 1,
            "http_status": 200,
            "last_error": None,
            "queued_at": "2026-05-28T20:26:40Z",
            "updated_at": "2026-05-28T20:26:41Z",
        },
    ]
    secrets = ("slack-path-secret", "basic-secret", "query-secret", "header-secret", "X-Audit")
    for secret in (*secrets, "other-secret"):
        assert secret not in response.text

    limited = httpx.get(protected_url + "/api/alerts", params={"limit": 2}, headers=AUTH).json()
    assert [(d["source"], d["lifecycle_id"] or d["finding_id"]) for d in limited["deliveries"]] == [
        (LIFECYCLE, entered),
        ("finding", second),
    ]
    assert limited["rules"] == body["rules"]


@pytest.mark.parametrize("limit", ["0", "1001", "many"])
def test_a_bad_limit_is_refused(protected_url: str, limit: str) -> None:
    response = httpx.get(protected_url + "/api/alerts", params={"limit": limit}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_the_alerts_need_the_api_key(protected_url: str, headers: dict[str, str]) -> None:
    response = httpx.get(protected_url + "/api/alerts", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert "security-oncall" not in response.text


def test_without_rules_the_answer_is_empty(database: Database) -> None:
    with serve_asgi(create_api_app(database, api_key=""), lifespan="off") as url:
        assert httpx.get(url + "/api/alerts").json() == {"rules": [], "deliveries": []}
