"""The body of an alert and the back-off between attempts, without a network."""

from __future__ import annotations

from dataclasses import replace

from tests.backend.alerts.stored_findings import FINDING
from tokentrace_backend.alerts import DeliveryPolicy
from tokentrace_backend.alerts.lifecycle import LifecycleAlert
from tokentrace_backend.alerts.message import alert_body, lifecycle_alert_body

NS = 1_000_000_000


def test_slack_markup_in_a_finding_is_escaped_for_slack_only() -> None:
    finding = replace(FINDING, summary="<!channel> & <https://evil.test|click>")
    body = alert_body("r", finding)
    escaped = "&lt;!channel&gt; &amp; &lt;https://evil.test|click&gt;"
    assert body["text"].endswith(escaped)
    assert body["blocks"][0]["text"]["text"].endswith(escaped)
    assert body["tokentrace"]["summary"] == finding.summary  # machines get it as it is


def test_a_finding_about_an_address_only() -> None:
    finding = replace(FINDING, kind="credential_stuffing", token_id=None, owner=None)
    body = alert_body("r", finding)
    assert body["text"] == (
        "[HIGH] credential_stuffing — from 203.0.113.0/24: first request from a new network"
    )
    assert body["tokentrace"]["token_id"] is None


def test_a_lifecycle_alert_escapes_slack_markup_for_slack_only() -> None:
    alert = LifecycleAlert(
        id=7,
        token_id="0a" * 16,
        state="stale",
        owner="<!channel>",
        name="a & b",
        on_ns=40 * 86_400 * NS,
        details={"last_used_ns": None, "unused_since_ns": 0},
    )
    body = lifecycle_alert_body("r", alert)
    assert body["text"] == (
        f'[LIFECYCLE] stale — token {"0a" * 16} (&lt;!channel&gt;, "a &amp; b"): never used, '
        "known since 1970-01-01T00:00:00Z (40 d 0 h); neither revoked nor expired"
    )
    assert body["tokentrace"]["owner"] == "<!channel>"
    assert body["blocks"][1]["elements"][0]["text"] == (
        "lifecycle alert 7 · entered 1970-02-10T00:00:00Z · rule r"
    )


def test_a_rotation_alert_names_five_clients_and_counts_the_rest() -> None:
    clients = [
        {"address": f"10.0.0.{n}", "user_agent": None, "requests": 1, "last_ns": 90 * NS}
        for n in range(7)
    ]
    alert = LifecycleAlert(
        id=1,
        token_id="0a" * 16,
        state="rotated_still_used",
        owner=None,
        name=None,
        on_ns=100 * NS,
        details={
            "event": "revoked",
            "at_ns": 0,
            "source": "span",
            "new_token_id": None,
            "requests_after": 7,
            "last_used_after_ns": 90 * NS,
            "clients": clients,
        },
    )
    body = lifecycle_alert_body("r", alert)
    assert body["text"].endswith(
        "still used after it was revoked at 1970-01-01T00:00:00Z: 7 requests since, the last "
        "1 min after it, from 10.0.0.0 (no user agent), 10.0.0.1 (no user agent), 10.0.0.2 "
        "(no user agent), 10.0.0.3 (no user agent), 10.0.0.4 (no user agent) and 2 more"
    )
    assert len(body["tokentrace"]["details"]["clients"]) == 7
    assert body["tokentrace"]["details"]["lag_ms"] == 90_000.0


def test_the_back_off_doubles_up_to_its_cap() -> None:
    policy = DeliveryPolicy(attempts=30, backoff_seconds=1.5, max_backoff_seconds=10.0)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5, 100)] == [1.5, 3.0, 6.0, 10.0, 10.0, 10.0]
    assert DeliveryPolicy(backoff_seconds=0).backoff(3) == 0.0
