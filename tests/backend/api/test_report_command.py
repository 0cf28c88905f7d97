"""``tokentrace report ID`` run as a real process against a live API, in its three formats,
on the reference scenario with a hostile token and findings added (report_scenario.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from tests.backend.api.report_scenario import (
    HEALTHY_TRACE,
    HOSTILE,
    ROUTE_PAYLOAD,
    stored_report_scenario,
)
from tests.backend.api.test_query_commands import tokentrace
from tests.backend.scenario import FAILING, HEALTHY, JAEGER_URL, ROTATED, UNKNOWN, Scenario
from tests.loopback import serve_asgi
from tokentrace_backend.api import create_api_app

KEY = "report-cli-key"
SECTIONS = [
    "LIFECYCLE",
    "REQUESTS",
    "ROUTES",
    "CLIENTS",
    "SERVICES",
    "ERRORS",
    "DEPENDENCIES",
    "FINDINGS",
    "TRACES",
]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Scenario, dict[str, int]]]:
    with stored_report_scenario(tmp_path_factory.mktemp("report")) as value:
        yield value


@pytest.fixture(scope="module")
def scenario(stored: tuple[Scenario, dict[str, int]]) -> Scenario:
    """This module's scenario (conftest's ``api_url`` serves it)."""
    return stored[0]


@pytest.fixture(scope="module")
def finding_ids(stored: tuple[Scenario, dict[str, int]]) -> dict[str, int]:
    return stored[1]


def report(*args: str, api_key: str | None = None) -> str:
    result = tokentrace("report", *args, api_key=api_key)
    assert result.returncode == 0, result.stderr
    return result.stdout


def section(text: str, title: str) -> list[str]:
    """The lines of one section of the text report, its title excluded."""
    lines = text.splitlines()
    start = lines.index(title) + 1
    end = next((i for i in range(start, len(lines)) if lines[i] in SECTIONS), len(lines))
    return [line for line in lines[start:end] if line]


def test_the_text_report_of_the_healthy_token(api_url: str, finding_ids: dict[str, int]) -> None:
    text = report(HEALTHY, "--url", api_url)
    lines = text.splitlines()
    assert lines[0] == f"TOKEN REPORT  {HEALTHY}"
    assert re.fullmatch(r"generated  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  \(times are UTC\)", lines[1])
    assert lines[3] == "owner      alice    name -    key ids k1"
    assert f"traces     {JAEGER_URL}" in lines
    assert [line for line in lines if line in SECTIONS] == SECTIONS  # every one, in order

    routes = section(text, "ROUTES")
    assert routes[0].split() == [
        "SERVICE",
        "METHOD",
        "ROUTE",
        "REQUESTS",
        "ERRORS",
        "DENIED",
        "P95",
    ]
    assert routes[1].split() == ["gateway", "GET", "/orders", "3", "0", "0", "20.0ms"]
    assert "10.0.0.1" in section(text, "CLIENTS")[1]
    assert section(text, "ERRORS") == ["(no failing span in the token's traces)"]

    # the dependency map as an edge list, its count columns right-aligned under their header
    header, *edges = section(text, "DEPENDENCIES")
    assert header.split() == ["EDGE", "KIND", "CALLS", "ERRORS", "P95"]
    by_edge = {" ".join(edge.split()[:3]): edge.split()[3:] for edge in edges}
    assert by_edge == {
        "gateway -> orders": ["service", "3", "0", "15.0ms"],
        "orders -> sqlite": ["database", "3", "0", "2.0ms"],
        "orders -> legacy": ["service", "3", "0", "10.0ms"],
        "legacy -> redis": ["database", "3", "0", "10.0ms"],
    }
    calls_end = header.index("CALLS") + len("CALLS")
    assert all(edge[calls_end - 1] == "3" for edge in edges)

    findings = section(text, "FINDINGS")
    rows = {int(row.split()[0]): row for row in findings[1:]}
    assert set(rows) == {finding_ids["open"], finding_ids["resolved"]}
    assert rows[finding_ids["open"]].split()[1:4] == ["high", "open", "new_network"]
    assert rows[finding_ids["open"]].endswith("first request from 203.0.113.0/24; 2 networks known")
    assert rows[finding_ids["resolved"]].split()[1:5] == [
        "medium",
        "resolved",
        "new_endpoint",
        "GET",
    ]

    # every trace cited, once, with its link and what cites it (both findings cite this one)
    header, *traces = section(text, "TRACES")
    assert header.split() == ["TRACE", "JAEGER", "CITED", "BY"]
    assert [row.split(maxsplit=2) for row in traces] == [
        [
            HEALTHY_TRACE,
            f"{JAEGER_URL}/trace/{HEALTHY_TRACE}",
            f"finding {finding_ids['resolved']} new_endpoint; "
            f"finding {finding_ids['open']} new_network",
        ]
    ]


def test_the_text_report_of_the_failing_and_rotated_tokens(
    api_url: str, scenario: Scenario
) -> None:
    failing = report(FAILING, "--url", api_url)
    errors = section(failing, "ERRORS")
    assert errors[0].split()[:2] == ["SERVICE", "SPAN"]
    assert any("orders" in row and "RuntimeError" in row for row in errors)
    assert all(row.endswith(scenario.trace_ids["failing"]) for row in errors[1:])

    rotated = report(ROTATED, "--url", api_url)
    assert "WARNING    used after it was rotated or revoked" in rotated.splitlines()
    lifecycle = section(rotated, "LIFECYCLE")
    assert "lag        10m00s" in lifecycle
    assert "states     expiring_soon=no  rotated_still_used=yes  stale=no" in lifecycle
    assert any(line.split()[2:5] == ["rotated", "token", "span"] for line in lifecycle)


def test_the_text_report_shows_control_characters_escaped(api_url: str) -> None:
    text = report(HOSTILE, "--url", api_url)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "evil\\x1b]0;owned\\x07agent" in section(text, "CLIENTS")[2]
    assert ROUTE_PAYLOAD in text  # a terminal shows markup as it is
    assert "expires    " in text


def test_the_json_and_html_formats(api_url: str) -> None:
    answer = json.loads(report(HEALTHY, "--url", api_url, "--format", "json", "--since", "7d"))
    assert answer["token_id"] == HEALTHY
    assert answer["summary"]["owner"] == "alice"
    since, until = (datetime.fromisoformat(answer[name]) for name in ("since", "until"))
    assert until - since == timedelta(days=7)

    page = report(HOSTILE, "--url", api_url, "--format", "html")
    assert page.startswith("<!DOCTYPE html>")
    assert "&lt;script&gt;span()&lt;/script&gt;" in page
    assert "<script" not in page


def test_unknown_tokens_and_bad_arguments(api_url: str) -> None:
    unknown = tokentrace("report", UNKNOWN, "--url", api_url)
    assert unknown.returncode == 1
    assert f"no span carries token id {UNKNOWN}" in unknown.stderr
    bad_since = tokentrace("report", HEALTHY, "--url", api_url, "--since", "yesterday")
    assert bad_since.returncode == 1
    assert "bad parameter: since" in bad_since.stderr
    bad_format = tokentrace("report", HEALTHY, "--url", api_url, "--format", "pdf")
    assert bad_format.returncode == 2
    raw = "ghp_rawSecretToken0123456789abcdefgh"
    pasted = tokentrace("report", raw, "--url", api_url)
    assert pasted.returncode == 2
    assert raw not in pasted.stderr + pasted.stdout


@pytest.fixture
def protected_url(scenario: Scenario) -> Iterator[str]:
    with serve_asgi(create_api_app(scenario.database, api_key=KEY), lifespan="off") as url:
        yield url


def test_the_api_key_is_sent(protected_url: str) -> None:
    refused = tokentrace("report", HEALTHY, "--url", protected_url)
    assert refused.returncode == 1
    assert "TOKENTRACE_API_KEY" in refused.stderr
    for output in ("text", "html"):
        allowed = tokentrace(
            "report", HEALTHY, "--url", protected_url, "--format", output, api_key=KEY
        )
        assert allowed.returncode == 0, allowed.stderr
        assert HEALTHY in allowed.stdout
