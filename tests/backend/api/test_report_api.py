"""``GET /api/tokens/{id}/report``: one token's report, as JSON and as an HTML page, on the
reference scenario with a hostile token and findings added (report_scenario.py)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from tests.backend.api.report_scenario import (
    AGENT_PAYLOAD,
    EXPIRES_IN_S,
    HEALTHY_TRACE,
    HOSTILE,
    ROUTE_PAYLOAD,
    SPAN_PAYLOAD,
    SUMMARY_PAYLOAD,
    stored_report_scenario,
)
from tests.backend.scenario import (
    FAILING,
    HEALTHY,
    JAEGER_URL,
    ROTATED,
    ROTATED_TO,
    UNKNOWN,
    Scenario,
)
from tests.loopback import serve_asgi
from tokentrace_backend.api import create_api_app

KEY = "report-test-key"
NS_PER_S = 1_000_000_000


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Scenario, dict[str, int]]]:
    with stored_report_scenario(tmp_path_factory.mktemp("report")) as value:
        yield value


@pytest.fixture(scope="module")
def scenario(stored: tuple[Scenario, dict[str, int]]) -> Scenario:
    """This module's scenario (conftest's ``api_url`` and ``client`` serve it)."""
    return stored[0]


@pytest.fixture(scope="module")
def finding_ids(stored: tuple[Scenario, dict[str, int]]) -> dict[str, int]:
    return stored[1]


def report_of(client: httpx.Client, token_id: str, **params: str) -> dict:
    response = client.get(f"/api/tokens/{token_id}/report", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def page_of(client: httpx.Client, token_id: str) -> str:
    response = client.get(f"/api/tokens/{token_id}/report", params={"format": "html"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return response.text


def without_window(answer: dict) -> dict:
    return {key: value for key, value in answer.items() if key not in ("since", "until", "now")}


def test_the_header_says_when_what_window_and_where_traces_are(client: httpx.Client) -> None:
    before = datetime.now().astimezone()
    report = report_of(client, HEALTHY)
    generated = datetime.fromisoformat(report["generated_at"])
    assert before - timedelta(seconds=1) <= generated <= datetime.now().astimezone()
    since, until = datetime.fromisoformat(report["since"]), datetime.fromisoformat(report["until"])
    assert until - since == timedelta(hours=24)
    assert abs(until - generated) < timedelta(seconds=5)
    assert (report["token_id"], report["service"], report["outcome"]) == (HEALTHY, None, None)
    assert report["jaeger_url"] == JAEGER_URL
    assert report["lifecycle"]["now"] == report["generated_at"]

    week = report_of(client, HEALTHY, since="7d")
    assert datetime.fromisoformat(week["until"]) - datetime.fromisoformat(
        week["since"]
    ) == timedelta(days=7)
    assert week["summary"]["since"] == week["since"]


def test_the_healthy_tokens_summary_and_dependency_map(client: httpx.Client) -> None:
    report = report_of(client, HEALTHY)
    summary = report["summary"]
    assert (summary["owner"], summary["key_ids"], summary["requests"]) == ("alice", ["k1"], 3)
    assert summary["outcomes"] == [{"outcome": "success", "requests": 3}]
    assert [(r["service"], r["route"], r["requests"]) for r in summary["routes"]] == [
        ("gateway", "/orders", 3)
    ]
    assert [(c["address"], c["user_agent"]) for c in summary["clients"]] == [
        ("10.0.0.1", "python-httpx/0.28")
    ]
    assert {s["service"]: s["calls"] for s in summary["services"]} == {
        "gateway": 3,
        "orders": 3,
        "legacy": 3,
    }
    assert summary["latency"]["p50_ms"] == 20.0
    assert summary["first_seen"] < summary["last_seen"]
    edges = {(e["source"], e["target"]): e for e in report["dependencies"]["edges"]}
    assert set(edges) == {
        ("gateway", "orders"),
        ("orders", "sqlite"),
        ("orders", "legacy"),
        ("legacy", "redis"),
    }
    assert edges[("gateway", "orders")]["calls"] == 3
    assert edges[("orders", "sqlite")]["target_kind"] == "database"
    assert report["errors"]["errors"] == []
    # the sections are the per-token endpoints' answers
    assert without_window(summary) == without_window(client.get(f"/api/tokens/{HEALTHY}").json())
    assert without_window(report["dependencies"]) == without_window(
        client.get(f"/api/tokens/{HEALTHY}/dependencies").json()
    )


def test_the_failing_tokens_errors_with_example_traces(
    client: httpx.Client, scenario: Scenario
) -> None:
    report = report_of(client, FAILING)
    trace_id = scenario.trace_ids["failing"]
    groups = {
        (g["service"], g["span_name"], g["error_type"]): g for g in report["errors"]["errors"]
    }
    assert set(groups) == {
        ("gateway", "GET /orders", "HTTP 502"),
        ("orders", "GET /orders", "RuntimeError"),
        ("orders", "SELECT orders", "OSError"),
    }
    group = groups[("orders", "GET /orders", "RuntimeError")]
    assert (group["count"], group["message"]) == (1, "database is locked")
    assert group["trace_ids"] == [trace_id]
    assert group["jaeger_urls"] == [f"{JAEGER_URL}/trace/{trace_id}"]
    assert report["trace_urls"] == {trace_id: f"{JAEGER_URL}/trace/{trace_id}"}
    edges = {(e["source"], e["target"]): e["errors"] for e in report["dependencies"]["edges"]}
    assert edges == {("gateway", "orders"): 1, ("orders", "sqlite"): 1}


def test_the_rotated_tokens_lifecycle_and_rotation_lag(client: httpx.Client) -> None:
    lifecycle = report_of(client, ROTATED)["lifecycle"]
    rotation = lifecycle["rotation"]
    assert (rotation["event"], rotation["new_token_id"], rotation["requests_after"]) == (
        "rotated",
        ROTATED_TO,
        1,
    )
    assert rotation["lag_ms"] == 600_000.0  # used again 10 minutes after the rotation
    assert lifecycle["states"] == {
        "expiring_soon": False,
        "rotated_still_used": True,
        "stale": False,
    }
    [event] = lifecycle["events"]
    assert (event["event"], event["actor"], event["source"]) == ("rotated", "ops", "span")
    report = report_of(client, ROTATED)
    assert report["summary"]["rotated_still_used"] is True
    # the lifecycle span is a cited trace, with its link
    assert report["trace_urls"][event["trace_id"]] == f"{JAEGER_URL}/trace/{event['trace_id']}"


def test_the_expiry_a_lifecycle_event_stated(client: httpx.Client, scenario: Scenario) -> None:
    lifecycle = report_of(client, HOSTILE)["lifecycle"]
    created_s = (scenario.base_ns + 30 * 60 * NS_PER_S - 1) // NS_PER_S
    expected = datetime.fromtimestamp(created_s + EXPIRES_IN_S).astimezone()
    assert datetime.fromisoformat(lifecycle["expires_at"]) == expected
    assert lifecycle["expired"] is False
    assert [(e["event"], e["actor"]) for e in lifecycle["events"]] == [("created", "issuer")]


def test_the_tokens_findings_of_every_state(
    client: httpx.Client, finding_ids: dict[str, int]
) -> None:
    findings = report_of(client, HEALTHY)["findings"]
    by_id = {finding["id"]: finding for finding in findings["findings"]}
    assert set(by_id) == {finding_ids["open"], finding_ids["resolved"]}  # not another token's
    assert findings["next_offset"] is None
    opened, resolved = by_id[finding_ids["open"]], by_id[finding_ids["resolved"]]
    assert (opened["kind"], opened["severity"], opened["state"]) == ("new_network", "high", "open")
    assert opened["summary"] == "first request from 203.0.113.0/24; 2 networks known"
    assert opened["evidence"]["trace_ids"] == [HEALTHY_TRACE]
    assert (resolved["state"], resolved["severity"], resolved["subject"]) == (
        "resolved",
        "medium",
        "GET /admin",
    )
    report = report_of(client, HEALTHY)
    assert report["trace_urls"] == {HEALTHY_TRACE: f"{JAEGER_URL}/trace/{HEALTHY_TRACE}"}
    assert [f["id"] for f in report_of(client, ROTATED)["findings"]["findings"]] == [
        finding_ids["other"]
    ]


def test_lifecycle_and_findings_are_all_time_the_rest_the_window(client: httpx.Client) -> None:
    report = report_of(client, HEALTHY, since="7d", until="6d")
    assert report["summary"]["requests"] == 0
    assert report["dependencies"]["edges"] == []
    assert report["errors"]["errors"] == []
    assert len(report["findings"]["findings"]) == 2
    assert report["lifecycle"]["last_used"] is not None
    assert report_of(client, HEALTHY, service="orders")["service"] == "orders"


def test_the_page_escapes_what_apps_and_clients_wrote(
    client: httpx.Client, scenario: Scenario
) -> None:
    page = page_of(client, HOSTILE)
    for payload in (SPAN_PAYLOAD, ROUTE_PAYLOAD, AGENT_PAYLOAD, SUMMARY_PAYLOAD):
        assert payload not in page
        assert html.escape(payload) in page  # shown, as text
    assert "&lt;b&gt;bold&lt;/b&gt; message" in page  # the error message
    assert "\x1b" not in page  # a terminal escape in a user agent, shown as text
    assert "evil\\x1b]0;owned\\x07agent" in page
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert not re.search(r"<[^>]*\son\w+\s*=", page)  # no event handler in any tag
    # the only links are Jaeger's, and only well-formed trace ids become one
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert f"{JAEGER_URL}/trace/{scenario.trace_ids['failing']}" in hrefs
    assert all(href.startswith(JAEGER_URL) for href in hrefs)
    assert not any("not-a-trace" in href for href in hrefs)
    assert not re.search(r"<(link|iframe|object|embed)\b|\ssrc=\"", page)  # nothing fetched


def test_the_page_forbids_scripts(client: httpx.Client) -> None:
    response = client.get(f"/api/tokens/{HOSTILE}/report", params={"format": "html"})
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy  # falls back to default-src: none
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_page_has_every_section(client: httpx.Client, finding_ids: dict[str, int]) -> None:
    page = page_of(client, HEALTHY)
    assert page.startswith("<!DOCTYPE html>")
    for title in ("Lifecycle", "Requests", "Routes", "Downstream errors", "Findings"):
        assert f">{title}</h" in page
    assert "<td>alice</td>" in page
    assert "<td>/orders</td>" in page
    assert "<td>python-httpx/0.28</td>" in page
    assert "<svg" in page
    assert re.search(r"<text[^>]*>sqlite</text>", page)  # drawn
    assert "<tr><td>orders</td><td>sqlite</td><td>database</td>" in page  # and tabled
    assert html.escape("first request from 203.0.113.0/24; 2 networks known") in page
    assert f'<td class="n">{finding_ids["resolved"]}</td>' in page
    assert f'<a href="{JAEGER_URL}/trace/{HEALTHY_TRACE}">' in page
    assert "no failing span in the token" in page

    rotated = page_of(client, ROTATED)
    assert "<th>rotation lag</th><td>10 min 0 s</td>" in rotated
    assert "Used after it was rotated or revoked." in rotated


def test_unknown_tokens_and_bad_parameters(client: httpx.Client) -> None:
    for params in ({}, {"format": "html"}):
        response = client.get(f"/api/tokens/{UNKNOWN}/report", params=params)
        assert response.status_code == 404
        assert response.json()["error"] == {
            "code": "token_not_found",
            "message": f"no span carries token id {UNKNOWN}",
            "token_id": UNKNOWN,
        }
    for path, params, where in [
        (HEALTHY, {"format": "pdf"}, ["query", "format"]),
        (HEALTHY, {"since": "yesterday"}, ["query", "since"]),
        (HEALTHY, {"since": "1h", "until": "2h"}, ["query", "since"]),
        ("not-a-token-id", {}, ["path", "token_id"]),
    ]:
        response = client.get(f"/api/tokens/{path}/report", params=params)
        assert response.status_code == 422, (path, params)
        assert response.json()["detail"][0]["loc"] == where
    assert client.get(f"/api/tokens/{HEALTHY.upper()}/report").json()["token_id"] == HEALTHY


@pytest.fixture
def protected_url(scenario: Scenario) -> Iterator[str]:
    app = create_api_app(scenario.database, api_key=KEY, jaeger_url="")
    with serve_asgi(app, lifespan="off") as url:
        yield url


def test_the_api_key_is_needed(protected_url: str) -> None:
    for params in ({}, {"format": "html"}):
        path = f"{protected_url}/api/tokens/{HEALTHY}/report"
        refused = httpx.get(path, params=params)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"
        wrong = httpx.get(path, params=params, headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401
        allowed = httpx.get(path, params=params, headers={"Authorization": f"Bearer {KEY}"})
        assert allowed.status_code == 200


def test_without_a_jaeger_ui_there_are_no_links(protected_url: str, scenario: Scenario) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    path = f"{protected_url}/api/tokens/{FAILING}/report"
    report = httpx.get(path, headers=headers).json()
    assert (report["jaeger_url"], report["trace_urls"]) == (None, {})
    assert report["errors"]["errors"][0]["jaeger_urls"] is None
    page = httpx.get(path, params={"format": "html"}, headers=headers).text
    assert "no Jaeger UI configured" in page
    assert "href=" not in page
    assert f"<code>{scenario.trace_ids['failing']}</code>" in page
