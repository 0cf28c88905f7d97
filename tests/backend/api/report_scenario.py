"""What the report tests add to the reference scenario: a token whose spans carry markup
where the apps and their clients choose the text (a span name, a route, a user agent), a
lifecycle event stating an expiry, and findings written as the detectors write them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from opentelemetry.trace import SpanKind

from tests.backend.alerts.stored_findings import insert_finding
from tests.backend.scenario import HEALTHY, ROTATED, Scenario, build_scenario
from tests.backend.span_builder import NS_PER_MS, SpanBuilder, trace_id_of
from tokentrace import attributes as tt
from tokentrace_backend.derived import refresh_derived
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter

HOSTILE = "88888888888888888888888888888888"
SPAN_PAYLOAD = "<script>span()</script>"
ROUTE_PAYLOAD = "/x/<script>route()</script>"
AGENT_PAYLOAD = "<img src=x onerror=agent()>"
SUMMARY_PAYLOAD = "<img src=x onerror=finding()> used from a new network"
# The terminal sees these escaped by the text format.
TERMINAL_PAYLOAD = "evil\x1b]0;owned\x07agent"

EXPIRES_IN_S = 2 * 86_400
HEALTHY_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"  # the evidence of stored_findings


def add_report_traffic(builder: SpanBuilder, writer: SpanWriter, scenario: Scenario) -> None:
    """Store the hostile token's request (a failing span below it) and its created event."""
    t = scenario.base_ns + 30 * 60_000 * NS_PER_MS
    builder.span(
        "gateway",
        tt.LIFECYCLE_EVENT_NAME,
        kind=SpanKind.INTERNAL,
        start_ns=t - 1,
        attributes={
            tt.TOKEN_ID: HOSTILE,
            tt.LIFECYCLE_EVENT: "created",
            tt.LIFECYCLE_ACTOR: "issuer",
            tt.TOKEN_EXPIRES_AT: t // 1_000_000_000 + EXPIRES_IN_S,
        },
    )
    root = builder.request(
        "gateway",
        ROUTE_PAYLOAD,
        token_id=HOSTILE,
        outcome="success",
        start_ns=t,
        status=500,
        client="198.51.100.66",
        user_agent=AGENT_PAYLOAD,
    )
    builder.span(
        "gateway",
        SPAN_PAYLOAD,
        kind=SpanKind.INTERNAL,
        start_ns=t + 1,
        parent=root,
        attributes={tt.TOKEN_ID: HOSTILE},
        error=ValueError("<b>bold</b> message"),
    )
    builder.request(
        "gateway",
        "/orders",
        token_id=HOSTILE,
        outcome="success",
        start_ns=t + 60_000 * NS_PER_MS,
        client="198.51.100.67",
        user_agent=TERMINAL_PAYLOAD,
    )
    scenario.trace_ids["hostile"] = trace_id_of(root)
    builder.flush(writer)


def add_report_findings(scenario: Scenario) -> dict[str, int]:
    """Findings of several states on the healthy token, one on the hostile token, and one
    of another token that no report of theirs may show; their ids by name."""
    database = scenario.database
    ids = {
        "open": insert_finding(database, token_id=HEALTHY, severity="high"),
        "resolved": insert_finding(
            database,
            token_id=HEALTHY,
            kind="new_endpoint",
            subject="GET /admin",
            client_address=None,
            severity="medium",
            state="resolved",
            summary="first call of GET /admin; 1 endpoint known",
        ),
        "hostile": insert_finding(
            database, token_id=HOSTILE, severity="critical", summary=SUMMARY_PAYLOAD
        ),
        "other": insert_finding(database, token_id=ROTATED, summary="not the healthy one's"),
    }
    # evidence with a trace of the scenario, and a malformed id that must not become a link
    with database.reader() as cursor:
        cursor.execute(
            "UPDATE findings SET evidence = ? WHERE id = ?",
            [
                json.dumps({"trace_ids": [scenario.trace_ids["failing"], "not-a-trace"]}),
                ids["hostile"],
            ],
        )
    return ids


@contextmanager
def stored_report_scenario(directory: Path) -> Iterator[tuple[Scenario, dict[str, int]]]:
    """The reference scenario with the report's additions, stored and derived as the
    API's ``scenario`` fixture stores it; the findings' ids by name."""
    database = Database(directory / "spans.duckdb")
    writer = SpanWriter(database)
    writer.start()
    builder = SpanBuilder()
    try:
        scenario = build_scenario(builder, writer, database)
        add_report_traffic(builder, writer, scenario)
        with database.reader() as cursor:
            refresh_derived(cursor)
        yield scenario, add_report_findings(scenario)
    finally:
        builder.shutdown()
        writer.close()
        database.close()
