"""The reference scenario through the production path (issue 4): gateway and orders export
to our collector build, which forwards to Jaeger v2 and to the tokentrace backend.

One pipeline is started for the module; the traffic runs once; the tests read what Jaeger,
the backend's API and the DuckDB file say about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.pipeline import Pipeline
from tests.leak_search import file_bytes_holding, stored_secrets
from tests.polling import wait_for
from tokentrace_backend.scenario.stack import scenario_fingerprinter
from tokentrace_backend.scenario.tokens import ScenarioToken, scenario_tokens, token_by_name
from tokentrace_backend.scenario.traffic import drive

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROUNDS = 3


def token_id(name: str) -> str:
    """The fingerprint the services compute for a scenario token."""
    return scenario_fingerprinter().fingerprint(token_by_name(name).raw)


def api(pipeline: Pipeline, path: str) -> Any:
    """GET a backend API path and decode the JSON."""
    response = httpx.get(f"{pipeline.backend.api_url}{path}", timeout=10)
    response.raise_for_status()
    return response.json()


@dataclass(frozen=True)
class ScenarioRun:
    """The pipeline after the traffic ran and every expected span arrived."""

    pipeline: Pipeline
    tokens: dict[str, dict[str, Any]]  # /api/tokens items by scenario token name


@pytest.fixture(scope="module")
def scenario_run(shared_pipeline: Pipeline) -> ScenarioRun:
    """Drive every scenario token ROUNDS times and wait until the backend has them all."""
    report = drive(shared_pipeline.services.gateway_url, rounds=ROUNDS)
    assert report.unexpected == []
    wanted = {token.name: token_id(token.name) for token in scenario_tokens()}

    def all_tokens_counted() -> dict[str, dict[str, Any]] | None:
        listed = {item["token_id"]: item for item in api(shared_pipeline, "/api/tokens")["tokens"]}
        found: dict[str, dict[str, Any]] = {}
        for token in scenario_tokens():
            item = listed.get(wanted[token.name])
            if item is None or item["requests"] < ROUNDS * len(token.requests):
                return None
            found[token.name] = item
        errors = api(shared_pipeline, f"/api/tokens/{wanted['faulty']}/errors")["errors"]
        orders_errors = [group for group in errors if group["service"] == "orders"]
        return found if orders_errors else None

    return ScenarioRun(shared_pipeline, wait_for(all_tokens_counted, "every scenario token"))


def test_jaeger_finds_the_faulty_tokens_traces_by_token_id(scenario_run: ScenarioRun) -> None:
    jaeger = scenario_run.pipeline.jaeger
    faulty = token_id("faulty")
    traces = wait_for(
        lambda: (
            found
            if len(found := jaeger.find_traces("gateway", {"tokentrace.token.id": faulty}))
            >= ROUNDS
            else None
        ),
        "the faulty token's traces in Jaeger",
    )
    assert len(traces) == ROUNDS
    for trace in traces:
        services = {process["serviceName"] for process in trace["processes"].values()}
        assert services == {"gateway", "orders"}
        # Propagation: the orders service's spans carry the token id too.
        by_process = {
            span["processID"]: [
                t["value"] for t in span["tags"] if t["key"] == "tokentrace.token.id"
            ]
            for span in trace["spans"]
        }
        orders_pids = [pid for pid, p in trace["processes"].items() if p["serviceName"] == "orders"]
        assert any(by_process.get(pid) == [faulty] for pid in orders_pids)
    # The v3 API returns the same traces as OTLP JSON.
    first = traces[0]["traceID"]
    v3 = jaeger.trace_v3(first).json()
    services_v3 = {
        attribute["value"]["stringValue"]
        for resource_spans in v3["result"]["resourceSpans"]
        for attribute in resource_spans["resource"]["attributes"]
        if attribute["key"] == "service.name"
    }
    assert services_v3 == {"gateway", "orders"}
    # A token that never made a request is not found.
    assert jaeger.find_traces("gateway", {"tokentrace.token.id": "0" * 32}) == []


def test_backend_links_the_faulty_token_to_orders_database_errors(
    scenario_run: ScenarioRun,
) -> None:
    faulty = token_id("faulty")
    errors = api(scenario_run.pipeline, f"/api/tokens/{faulty}/errors")["errors"]
    database_errors = [
        group
        for group in errors
        if group["service"] == "orders" and "OperationalError" in (group["error_type"] or "")
    ]
    assert database_errors, errors
    assert sum(group["count"] for group in database_errors) == ROUNDS
    assert any("no such table" in (group["message"] or "") for group in database_errors)
    # The failure is the faulty token's alone: the healthy token has no errors.
    healthy = api(scenario_run.pipeline, f"/api/tokens/{token_id('healthy-user')}/errors")
    assert healthy["errors"] == []


def test_backend_draws_gateway_orders_sqlite_for_the_healthy_token(
    scenario_run: ScenarioRun,
) -> None:
    graph = api(scenario_run.pipeline, f"/api/tokens/{token_id('healthy-user')}/dependencies")
    edges = {(edge["source"], edge["target"]): edge for edge in graph["edges"]}
    assert ("gateway", "orders") in edges, graph
    healthy = token_by_name("healthy-user")
    assert edges["gateway", "orders"]["calls"] == ROUNDS * len(healthy.requests)
    assert edges["gateway", "orders"]["errors"] == 0
    database_edges = [
        edge
        for (source, _), edge in edges.items()
        if source == "orders" and "sqlite" in edge["target"]
    ]
    assert database_edges, graph
    assert {node["kind"] for node in graph["nodes"]} >= {"service", "database"}


@pytest.mark.parametrize(
    "name",
    [
        "expired-jwt",
        "revoked",
        "read-only",
        "healthy-user",
        "ci-service",
        "query-api-key",
        "legacy-basic",
    ],
)
def test_backend_reports_each_tokens_auth_outcome(scenario_run: ScenarioRun, name: str) -> None:
    token: ScenarioToken = token_by_name(name)
    item = scenario_run.tokens[name]
    assert item["owner"] == token.owner
    assert item["requests"] == ROUNDS * len(token.requests)
    assert item["outcomes"] == {token.expected_outcome: ROUNDS * len(token.requests)}


def test_backend_reports_the_rotated_token_still_in_use(scenario_run: ScenarioRun) -> None:
    old, new = token_id("rotated-old"), token_id("rotated-new")
    summary = api(scenario_run.pipeline, f"/api/tokens/{old}")
    assert summary["requests"] == ROUNDS
    rotations = [event for event in summary["lifecycle"] if event["event"] == "rotated"]
    assert rotations, summary["lifecycle"]
    assert rotations[0]["new_token_id"] == new
    assert summary["rotated_still_used"] is True


SECRETS = [secret for token in scenario_tokens() for secret in token.secrets]


def _assert_no_secret(blob: bytes, where: str) -> None:
    for secret in SECRETS:
        assert secret.encode() not in blob, f"a raw scenario token leaked into {where}"


def test_no_raw_token_in_jaeger_answers_or_the_duckdb_file(scenario_run: ScenarioRun) -> None:
    pipeline = scenario_run.pipeline
    jaeger = pipeline.jaeger
    searched = 0
    for service in ("gateway", "orders"):
        answer = jaeger.search(service)
        _assert_no_secret(answer.content, f"Jaeger's search answer for {service}")
        _assert_no_secret(jaeger.find_traces_v3(service).content, f"Jaeger v3 for {service}")
        for trace in answer.json()["data"]:
            _assert_no_secret(jaeger.trace_v3(trace["traceID"]).content, "a Jaeger v3 trace")
            detail = httpx.get(f"{pipeline.backend.api_url}/api/traces/{trace['traceID']}")
            _assert_no_secret(detail.content, "the backend's trace API")
            searched += 1
    # Every token's requests, ROUNDS times (some tokens make two).
    assert searched >= ROUNDS * len(scenario_tokens())
    # The DuckDB file, its write-ahead log and the ingest journal's segments, as they are
    # now (the write-ahead log is gone once the backend stops and checkpoints).
    db_path = pipeline.backend.db_path
    assert file_bytes_holding(db_path, SECRETS) == []
    # DuckDB compresses strings in its file: search the decoded rows of every table too,
    # with the backend stopped (it locks the file), then start it again for the next tests.
    pipeline.backend.stop()
    try:
        assert stored_secrets(db_path, SECRETS) == []
        # (The search itself works: a value the scenario does store is found.)
        assert ("spans.error_message", "orders_legacy") in stored_secrets(
            db_path, ["orders_legacy"]
        )
    finally:
        pipeline.backend.start()
    for process in pipeline.processes():
        _assert_no_secret(process.log_bytes(), f"the {process.name} log")
    # The gateway's access log is on: the query-api-key token's requests are in it,
    # redacted, so the search of the logs above would have seen an access-log leak.
    [gateway] = [process for process in pipeline.processes() if process.name == "gateway"]
    query_key = token_by_name("query-api-key")
    request_lines = [
        line
        for line in gateway.log_bytes().splitlines()
        if b'"GET /api/orders?api_key=REDACTED HTTP/1.1" 200' in line
    ]
    assert len(request_lines) >= ROUNDS * len(query_key.requests), gateway.log_tail()


def test_collector_masks_credentials_that_other_instrumentation_exported(
    shared_pipeline: Pipeline,
) -> None:
    """Defence in depth: a span from an app *without* tokentrace, carrying a captured
    Authorization header and an api_key URL, reaches Jaeger and the backend masked."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    raw = "leaky_" + "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsZWFreSJ9.bGVha3ktc2lnbmF0dXJlLXZhbHVl"
    provider = TracerProvider(resource=Resource.create({"service.name": "leaky-app"}))
    exporter = OTLPSpanExporter(endpoint=f"{shared_pipeline.collector.otlp_url}/v1/traces")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("leaky").start_as_current_span("GET /leaky") as span:
        span.set_attribute("http.request.header.authorization", [f"Bearer {raw}"])
        span.set_attribute("url.full", f"http://api.test/leaky?api_key={raw}&page=1")
        span.set_attribute("app.session", jwt)
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()

    traces = wait_for(
        lambda: shared_pipeline.jaeger.find_traces("leaky-app", {}), "the leaky span in Jaeger"
    )
    tags = {tag["key"]: tag["value"] for tag in traces[0]["spans"][0]["tags"]}
    assert "****" in str(tags["url.full"])
    # A captured header is a string array; redact_all_types makes the processor check it.
    assert "****" in str(tags["http.request.header.authorization"])
    assert "****" in str(tags["app.session"])
    answer = shared_pipeline.jaeger.search("leaky-app").content
    backend_answer = wait_for(
        lambda: (
            r.content
            if (
                r := httpx.get(f"{shared_pipeline.backend.api_url}/api/traces/{trace_id}")
            ).is_success
            else None
        ),
        "the leaky span in the backend",
    )
    for blob in (answer, backend_answer):
        assert raw.encode() not in blob
        assert jwt.split(".")[2].encode() not in blob
