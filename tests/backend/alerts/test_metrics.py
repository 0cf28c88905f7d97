"""``GET /metrics``: Prometheus text with the findings, the spans ingested, the derived
tables' lag and the alert deliveries, read at scrape time, behind the API key."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.backend.alerts.stored_findings import OTHER_TOKEN, insert_finding, wait_until
from tests.backend.span_builder import SpanBuilder
from tests.loopback import serve_asgi
from tokentrace.attributes import AuthOutcome
from tokentrace_backend.alerts import BackendMetrics, parse_rules
from tokentrace_backend.alerts.delivery_log import (
    DELIVERED,
    FAILED,
    Marks,
    PendingDelivery,
    record_attempt,
    record_handled,
)
from tokentrace_backend.api import create_api_app
from tokentrace_backend.derived import refresh_derived
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter

KEY = "metrics-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
T0 = 1_780_000_000_000_000_000
RULES = parse_rules(
    {"rules": [{"name": "all", "kinds": "all", "webhook_url": "http://127.0.0.1:9/"}]},
    source="test",
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def store_requests(builder: SpanBuilder, writer: SpanWriter, count: int) -> None:
    for index in range(count):
        builder.request(
            "gateway",
            "/api/orders",
            token_id=OTHER_TOKEN,
            outcome=AuthOutcome.SUCCESS.value,
            start_ns=T0 + index,
        )
    builder.flush(writer)


@pytest.fixture
def metrics_url(database: Database, writer: SpanWriter) -> Iterator[str]:
    app = create_api_app(database, api_key=KEY, span_counter=writer, alert_rules=RULES)
    with serve_asgi(app, lifespan="off") as url:
        yield url


def scrape(url: str) -> Samples:
    response = httpx.get(url + "/metrics", headers=AUTH)  # the key is ignored when unset
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


def test_metrics_read_the_tables_at_scrape_time(
    metrics_url: str, database: Database, writer: SpanWriter, builder: SpanBuilder
) -> None:
    store_requests(builder, writer, 3)
    store_requests(builder, writer, 2)
    first = insert_finding(database, kind="new_network", severity="high")
    insert_finding(database, kind="new_network", severity="high")
    insert_finding(database, kind="burst", severity="low", state="resolved")
    with database.reader() as cursor:
        record_handled(cursor, [("all", first), ("all", first + 1)], Marks(first + 2, 0), T0)
        for finding_id, status in ((first, DELIVERED), (first + 1, FAILED)):
            record_attempt(
                cursor,
                PendingDelivery("all", "finding", finding_id, 0, None),
                status=status,
                attempts=1,
                http_status=200,
                error=None,
                now_ns=T0,
            )

    before = scrape(metrics_url)
    assert before[("tokentrace_spans_ingested_total", ())] == 5
    finding_counts = {
        labels: value for (name, labels), value in before.items() if name == "tokentrace_findings"
    }
    assert finding_counts == {
        (("kind", "new_network"), ("severity", "high"), ("state", "open")): 2,
        (("kind", "burst"), ("severity", "low"), ("state", "resolved")): 1,
    }
    assert before[("tokentrace_derived_batches_behind", ())] == 2
    assert before[("tokentrace_derived_spans_behind", ())] == 5
    assert before[("tokentrace_alert_deliveries", (("rule", "all"), ("status", "delivered")))] == 1
    assert before[("tokentrace_alert_deliveries", (("rule", "all"), ("status", "failed")))] == 1
    assert before[("tokentrace_alert_rules", ())] == 1

    with database.reader() as cursor:
        refresh_derived(cursor)
        cursor.execute("UPDATE findings SET state = 'acknowledged' WHERE id = ?", [first])
    store_requests(builder, writer, 4)

    after = scrape(metrics_url)
    assert after[("tokentrace_spans_ingested_total", ())] == 9
    assert after[("tokentrace_derived_batches_behind", ())] == 1
    assert after[("tokentrace_derived_spans_behind", ())] == 4
    # refreshed, not yet detected: the detectors trail the derived tables by one batch
    assert after[("tokentrace_detection_batches_behind", ())] == 2
    acknowledged = (("kind", "new_network"), ("severity", "high"), ("state", "acknowledged"))
    assert after[("tokentrace_findings", acknowledged)] == 1


def test_seconds_since_refresh_count_from_the_last_run_of_the_refresh(
    database: Database,
) -> None:
    now = [100.0]
    metrics = BackendMetrics(database, clock=lambda: now[0])

    def since_refresh() -> float:
        return samples(metrics.render().decode())[("tokentrace_derived_seconds_since_refresh", ())]

    now[0] = 105.0
    assert since_refresh() == 5.0  # since the start: no refresh yet
    with database.reader() as cursor:
        metrics.note_refresh(cursor)
    now[0] = 107.0
    assert since_refresh() == 2.0


def test_the_background_refresh_tells_the_metrics_when_it_ran(
    database: Database, writer: SpanWriter, builder: SpanBuilder
) -> None:
    store_requests(builder, writer, 2)
    app = create_api_app(database, api_key="", refresh_interval=0.05, ingest_activity=writer)
    with serve_asgi(app, lifespan="on") as url:
        started = time.monotonic()
        wait_until(
            lambda: scrape(url)[("tokentrace_derived_batches_behind", ())] == 0,
            what="the background refresh to catch up",
        )
        while time.monotonic() - started < 1.0:  # long enough for a stale clock to show
            time.sleep(0.05)
        assert scrape(url)[("tokentrace_derived_seconds_since_refresh", ())] < 0.5


def test_metrics_need_the_api_key_and_stay_off_the_global_registry(metrics_url: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = httpx.get(metrics_url + "/metrics", headers=headers)
        assert response.status_code == 401
        assert "tokentrace_findings" not in response.text
    assert "tokentrace_findings" not in {metric.name for metric in REGISTRY.collect()}


def test_metrics_are_open_without_a_key(database: Database) -> None:
    with serve_asgi(create_api_app(database, api_key=""), lifespan="off") as url:
        text = httpx.get(url + "/metrics").text
    assert samples(text)[("tokentrace_spans_ingested_total", ())] == 0
    assert "# TYPE tokentrace_findings gauge" in text


def test_the_leader_gauge_follows_the_leadership(database: Database) -> None:
    """1 for a file's one process (no ``leads``); in lake mode, whatever ``leads`` says at
    each scrape."""
    assert samples(BackendMetrics(database).render().decode())[("tokentrace_leader", ())] == 1
    leading = [False]
    metrics = BackendMetrics(database, leads=lambda: leading[0])
    assert samples(metrics.render().decode())[("tokentrace_leader", ())] == 0
    leading[0] = True
    assert samples(metrics.render().decode())[("tokentrace_leader", ())] == 1
