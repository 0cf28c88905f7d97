"""The dashboard in a real headless Chromium against ``tokentrace demo``: every view renders
with no console error and no request to another host, the tokens table sorts and filters,
the token page draws its dependency graph, the waterfall shows every span, the live view
updates without a reload, findings are acknowledged and resolved, injected markup stays
inert, and the sign-in keeps the API key out of every URL."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from playwright.sync_api import Browser, Page, expect

from tokentrace import attributes as tt
from tokentrace_backend.detect import AnomalyKind
from tokentrace_backend.scenario.stack import Backend, scenario_fingerprinter
from tokentrace_backend.scenario.tokens import token_by_name

from .conftest import RunningDemo, WatchedPage, watched_page

pytestmark = pytest.mark.slow


def _token(name: str) -> str:
    return scenario_fingerprinter().fingerprint(token_by_name(name).raw)


def _api(demo: RunningDemo, path: str, **params: Any) -> Any:
    response = httpx.get(demo.dashboard_url + "api/" + path, params=params, timeout=30)
    response.raise_for_status()
    return response.json()


def _column(page: Page, column: str) -> list[str]:
    cells = page.locator(f"#tokens-table tbody td[data-column={column}]")
    return [text.strip() for text in cells.all_inner_texts()]


def _number(text: str) -> int:
    return int(text.replace(",", "") or 0)


def test_every_view_renders(dashboard: WatchedPage, demo: RunningDemo) -> None:
    page = dashboard.open("#/tokens")
    expect(page.locator("#tokens-table")).to_be_visible()
    for name in ("healthy-user", "faulty", "expired-jwt", "revoked", "rotated-old"):
        expect(page.locator(f'tr[data-token-id="{_token(name)}"]')).to_have_count(1)
    dashboard.screenshot("tokens")

    page = dashboard.open(f"#/tokens/{_token('faulty')}")
    expect(page.locator("#token-errors")).to_contain_text("no such table: orders_legacy")
    expect(page.locator("#timeline-chart canvas")).to_have_count(1)
    dashboard.screenshot("token-faulty")

    page = dashboard.open(f"#/tokens/{_token('rotated-old')}")
    expect(page.locator("#token-states")).to_contain_text("rotated, still used")
    expect(page.locator("#rotation-lag")).not_to_have_text("-")
    dashboard.screenshot("token-rotated")

    page = dashboard.open("#/findings")
    page.select_option("#filter-state", "")  # any state: other tests change some
    expect(page.locator("table.findings")).to_be_visible()
    page.wait_for_load_state("networkidle")
    kinds = set(
        page.locator("table.findings tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.kind)"
        )
    )
    expected = {finding["kind"] for finding in _api(demo, "anomalies", limit=500)["findings"]}
    assert expected >= {kind.value for kind in AnomalyKind}  # the demo injects every kind
    assert kinds == expected
    dashboard.screenshot("findings")

    page = dashboard.open("#/map")
    for node in ("gateway", "orders", "sqlite"):
        expect(page.locator(f'#global-map g.node[data-node="{node}"]')).to_have_count(1)
    dashboard.screenshot("map")

    page = dashboard.open("#/audit")
    expect(page.locator("#audit-records tbody tr").first).to_be_visible()
    expect(page.locator("#audit-records")).to_contain_text("finding.opened")
    dashboard.screenshot("audit")


def test_the_tokens_table_sorts_and_filters(dashboard: WatchedPage, demo: RunningDemo) -> None:
    page = dashboard.open("#/tokens")
    expect(page.locator("#tokens-table")).to_be_visible()
    page.click('th[data-sort="requests"] button')
    descending = [_number(text) for text in _column(page, "requests")]
    assert len(descending) > 10
    assert descending == sorted(descending, reverse=True)
    page.click('th[data-sort="requests"] button')
    ascending = [_number(text) for text in _column(page, "requests")]
    assert ascending == sorted(ascending)
    page.click('th[data-sort="owner"] button')
    owners = [owner.lower() for owner in _column(page, "owner")]
    assert owners == sorted(owners)

    page.fill("#filter-owner", "ALICE")
    expect(page.locator("#tokens-table tbody tr")).to_have_count(1)
    expect(page.locator(f'tr[data-token-id="{_token("healthy-user")}"]')).to_have_count(1)
    page.fill("#filter-owner", "")
    page.select_option("#filter-outcome", "expired")
    expect(page.locator(f'tr[data-token-id="{_token("expired-jwt")}"]')).to_have_count(1)
    expect(page.locator(f'tr[data-token-id="{_token("healthy-user")}"]')).to_have_count(0)
    for text in _column(page, "outcomes"):
        assert "expired" in text
    page.select_option("#filter-outcome", "")
    faulty = _token("faulty")
    page.fill("#filter-token", faulty[:10].upper())
    expect(page.locator("#tokens-table tbody tr")).to_have_count(1)
    page.press("#filter-token", "Enter")  # a prefix is not an id: stays on the list
    page.fill("#filter-token", faulty)
    page.press("#filter-token", "Enter")
    expect(page.locator("#token-id")).to_have_text(faulty)


def test_the_token_page_draws_the_dependency_graph(
    dashboard: WatchedPage, demo: RunningDemo
) -> None:
    for name, failing in (("healthy-user", set()), ("faulty", {("orders", "sqlite")})):
        token_id = _token(name)
        graph = _api(demo, f"tokens/{token_id}/dependencies")
        page = dashboard.open(f"#/tokens/{token_id}")
        svg = page.locator("svg.graph")
        expect(svg).to_be_visible()
        nodes = set(svg.locator("g.node").evaluate_all("gs => gs.map(g => g.dataset.node)"))
        edges = svg.locator("g.edge").evaluate_all(
            "gs => gs.map(g => [g.dataset.source, g.dataset.target, g.classList.contains('failed')])"
        )
        assert nodes == {node["name"] for node in graph["nodes"]}
        assert {"gateway", "orders", "sqlite"} <= nodes
        drawn = {(source, target) for source, target, _ in edges}
        assert drawn == {
            (e["source"], e["target"]) for e in graph["edges"] if e["source"] != e["target"]
        }
        assert {("gateway", "orders"), ("orders", "sqlite")} <= drawn
        assert failing <= {(source, target) for source, target, failed in edges if failed}
        if not failing:
            assert not any(failed for _, _, failed in edges)
        dashboard.screenshot(f"graph-{name}")


def test_the_waterfall_shows_every_span_of_a_trace(
    dashboard: WatchedPage, demo: RunningDemo
) -> None:
    errors = _api(demo, f"tokens/{_token('faulty')}/errors")["errors"]
    trace_id = errors[0]["trace_ids"][0]
    trace = _api(demo, f"traces/{trace_id}")
    page = dashboard.open(f"#/tokens/{_token('faulty')}")
    page.locator(f'#token-errors a[href="#/traces/{trace_id}"]').first.click()
    expect(page.locator("#waterfall")).to_be_visible()
    rows = page.locator("#waterfall tr.span")
    expect(rows).to_have_count(len(trace["spans"]))
    shown = set(rows.evaluate_all("rs => rs.map(r => r.dataset.spanId)"))
    assert shown == {span["span_id"] for span in trace["spans"]}
    services = {span["service"] for span in trace["spans"]}
    assert {"gateway", "orders"} <= services
    failing = next(span for span in trace["spans"] if span["name"] == "SELECT")
    row = page.locator(f'#waterfall tr.span[data-span-id="{failing["span_id"]}"]')
    row.click()
    details = row.locator("xpath=following-sibling::tr[1]")
    expect(details).to_be_visible()
    expect(details).to_contain_text("no such table: orders_legacy")
    dashboard.screenshot("trace")


def test_the_live_view_updates_without_a_reload(dashboard: WatchedPage) -> None:
    page = dashboard.open("#/tokens")
    cell = page.locator(f'tr[data-token-id="{_token("healthy-user")}"] td[data-column=requests]')
    expect(cell).to_be_visible()
    before = _number(cell.inner_text())
    page.evaluate("window.__samePage = true")
    # The demo sends a round of traffic every 2 s; the page hears of it on /api/events.
    page.wait_for_function(
        f"""() => {{
            const cell = document.querySelector('tr[data-token-id="{_token("healthy-user")}"] td[data-column=requests]');
            return cell && Number(cell.textContent.replace(/,/g, '')) > {before};
        }}""",
        timeout=30_000,
    )
    assert page.evaluate("window.__samePage") is True  # updated in place, not reloaded
    expect(page.locator("#live")).to_contain_text("live")
    events = [url for url in dashboard.urls if url.endswith("/api/events")]
    assert len(events) == 1  # one stream, no polling
    token_lists = [url for url in dashboard.urls if "/api/tokens?" in url]
    assert len(token_lists) < 20


def test_findings_are_acknowledged_and_resolved(dashboard: WatchedPage, demo: RunningDemo) -> None:
    page = dashboard.open("#/findings")
    first = page.locator('table.findings tbody tr[data-state="open"]').first
    expect(first).to_be_visible()
    finding_id = first.get_attribute("data-finding-id")
    first.locator('button[data-action="acknowledged"]').click()
    row = page.locator(f'tr[data-finding-id="{finding_id}"]')
    expect(row).to_have_count(0)  # the list shows open findings: it left
    finding = _api(demo, f"anomalies/{finding_id}")
    assert (finding["state"], finding["state_changed_by"]) == ("acknowledged", "dashboard")

    page.select_option("#filter-state", "acknowledged")
    row.locator('button[data-action="resolved"]').click()
    expect(row).to_have_count(0)
    assert _api(demo, f"anomalies/{finding_id}")["state"] == "resolved"
    page.select_option("#filter-state", "resolved")
    expect(row.locator('td[data-column="state"]')).to_contain_text("resolved")

    page = dashboard.open("#/audit")
    page.select_option("#filter-audit-kind", "finding.state_changed")
    expect(page.locator("#audit-records")).to_contain_text(f'"finding_id":{finding_id}')


MARKUP = {
    "name": '<img src=x onerror="window.__pwned=1">GET /pwn',
    "owner": "<script>window.__pwned=2</script>mallory",
    "route": '"><svg onload="window.__pwned=3">',
    "agent": "<iframe src=javascript:window.__pwned=4></iframe>",
    "service": '<b onmouseover="window.__pwned=5">evil-svc</b>',
    "message": "<img src=x onerror=window.__pwned=6> boom\u202egnp.exe",
}


def _text(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _send_markup(otlp_url: str, token_id: str) -> str:
    trace_id = secrets.token_bytes(16)
    now = time.time_ns()
    server = Span(
        trace_id=trace_id,
        span_id=secrets.token_bytes(8),
        name=MARKUP["name"],
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=now,
        end_time_unix_nano=now + 5_000_000,
        status=Status(code=Status.STATUS_CODE_ERROR, message=MARKUP["message"]),
        attributes=[
            _text(tt.TOKEN_ID, token_id),
            _text(tt.TOKEN_OWNER, MARKUP["owner"]),
            _text(tt.AUTH_OUTCOME, "success"),
            _text("http.request.method", "GET"),
            _text("http.route", MARKUP["route"]),
            _text("user_agent.original", MARKUP["agent"]),
            _text("client.address", "127.0.0.1"),
            KeyValue(key="http.response.status_code", value=AnyValue(int_value=500)),
            _text("error.type", MARKUP["message"]),
        ],
    )
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[_text("service.name", MARKUP["service"])]),
                scope_spans=[ScopeSpans(spans=[server])],
            )
        ]
    )
    response = httpx.post(
        otlp_url,
        content=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=30,
    )
    response.raise_for_status()
    return trace_id.hex()


def test_injected_markup_stays_inert(dashboard: WatchedPage, demo: RunningDemo) -> None:
    token_id = secrets.token_hex(16)
    trace_id = _send_markup(demo.otlp_url, token_id)
    deadline = time.monotonic() + 30
    while not _api(demo, "tokens", token_prefix=token_id)["tokens"]:
        assert time.monotonic() < deadline, "the span never reached the token list"
        time.sleep(0.5)

    pages = ["#/tokens", f"#/tokens/{token_id}", f"#/traces/{trace_id}", "#/map"]
    for route in pages:
        page = dashboard.open(route)
        page.wait_for_timeout(500)
        if route == f"#/traces/{trace_id}":
            page.locator("#waterfall tr.span").first.click()
        assert page.evaluate("window.__pwned") is None, route
        injected = page.evaluate(
            "document.querySelectorAll('main [onerror], main [onload], main [onmouseover],"
            " main script, main iframe, main img').length"
        )
        assert injected == 0, route
    page = dashboard.open(f"#/tokens/{token_id}")
    expect(page.locator("main")).to_contain_text(MARKUP["owner"])
    expect(page.locator("main")).to_contain_text(MARKUP["agent"])
    page = dashboard.open(f"#/traces/{trace_id}")
    expect(page.locator("#waterfall")).to_contain_text(MARKUP["name"])
    page.locator("#waterfall tr.span").first.click()
    # The right-to-left override is shown as an escape, not applied to the text.
    expect(page.locator("#waterfall")).to_contain_text("boom\\u202egnp.exe")
    dashboard.screenshot("markup-inert")


def test_sign_in_keeps_the_key_out_of_urls(browser: Browser, tmp_path: Path) -> None:
    key = "dashboard-k\u00e9y-" + secrets.token_hex(8)  # non-ASCII: compared as UTF-8
    backend = Backend(
        db_path=tmp_path / "signed.duckdb",
        log_dir=tmp_path,
        env={**os.environ, "TOKENTRACE_API_KEY": key},
    )
    backend.start()
    try:
        with watched_page(browser, backend.api_url + "/") as watched:
            page = watched.open("")
            expect(page.locator("#sign-in")).to_be_visible()
            watched.screenshot("sign-in")
            page.fill("#api-key", "not-the-key")
            page.click("#sign-in button[type=submit]")
            expect(page.locator("#sign-in .error")).to_contain_text("wrong API key")
            page.fill("#api-key", key)
            page.click("#sign-in button[type=submit]")
            expect(page.locator("#tokens-empty")).to_be_visible()
            expect(page.locator("#live")).to_have_text("live", timeout=10_000)
            page.click("#nav a[data-view=findings]")
            expect(page.locator("[data-empty=findings]")).to_be_visible()

            cookies = page.context.cookies()
            session = [cookie for cookie in cookies if cookie["name"] == "tokentrace_session"]
            assert len(session) == 1
            assert session[0]["httpOnly"] is True
            assert session[0]["sameSite"] == "Strict"
            assert key not in session[0]["value"]
            assert page.evaluate("document.cookie") == ""  # not readable by scripts
            storage = page.evaluate("JSON.stringify([localStorage, sessionStorage])")
            assert key not in storage
            encoded = httpx.URL("http://h/", params={"k": key}).query.decode()
            for url in watched.urls:
                assert key not in url and encoded.split("=", 1)[1] not in url, url

            page.click("#sign-out")
            expect(page.locator("#sign-in")).to_be_visible()
            assert watched.errors == [
                message for message in watched.errors if "401" in message
            ]  # only the refused sign-in and the signed-out probe
    finally:
        backend.stop()
