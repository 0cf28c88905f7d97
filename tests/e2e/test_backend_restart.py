"""Stopping the backend mid-run loses nothing and duplicates nothing: the collector queues
and retries, and every span arrives exactly once (issue 4)."""

from __future__ import annotations

import time
from typing import Any

import duckdb
import httpx
import pytest

from tests.e2e.pipeline import Pipeline
from tests.leak_search import stored_secrets
from tokentrace_backend.scenario.tokens import scenario_tokens
from tokentrace_backend.scenario.traffic import drive

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def jaeger_spans(pipeline: Pipeline) -> dict[str, int]:
    """Span count per trace id, as Jaeger (which stayed up throughout) stored them."""
    counts: dict[str, int] = {}
    for service in ("gateway", "orders"):
        for trace in pipeline.jaeger.search(service).json()["data"]:
            counts[trace["traceID"]] = len(trace["spans"])
    return counts


def backend_spans(pipeline: Pipeline, trace_id: str) -> int:
    """How many spans of ``trace_id`` the backend serves (0 while it has none)."""
    response = httpx.get(f"{pipeline.backend.api_url}/api/traces/{trace_id}", timeout=10)
    if response.status_code == 404:
        return 0
    response.raise_for_status()
    detail: dict[str, Any] = response.json()
    return len(detail["spans"])


def test_backend_restart_loses_and_duplicates_nothing(pipeline: Pipeline) -> None:
    gateway = pipeline.services.gateway_url
    requests_per_round = sum(len(token.requests) for token in scenario_tokens())

    before = drive(gateway, rounds=1)
    pipeline.backend.stop()
    # While the backend is down, the collector must hold these spans and retry.
    during = drive(gateway, rounds=2)
    time.sleep(1.5)  # let the collector try (and fail) to deliver at least once
    pipeline.backend.start()
    after = drive(gateway, rounds=1)
    assert before.unexpected == during.unexpected == after.unexpected == []
    assert before.requests + during.requests + after.requests == 4 * requests_per_round
    # The services flush what they hold on SIGTERM.
    pipeline.services.stop()

    # The services' last spans are still on their way through the collector's batches: a
    # trace can be half in Jaeger and half in the backend for a moment, so wait until two
    # searches a second apart agree with each other and with the backend.
    deadline = time.monotonic() + 60
    previous: dict[str, int] = {}
    while True:
        expected = jaeger_spans(pipeline)
        missing = {
            trace_id: count
            for trace_id, count in expected.items()
            if backend_spans(pipeline, trace_id) != count
        }
        settled = expected == previous
        if settled and not missing and len(expected) >= 4 * requests_per_round:
            break
        assert time.monotonic() < deadline, f"{len(missing)} traces incomplete in the backend"
        previous = expected
        time.sleep(1.0)

    # The collector did hold and retry while the backend was down.
    retries = [
        line
        for line in pipeline.collector.process.log_bytes().splitlines()
        if b"Will retry" in line and b"otlp_http/tokentrace" in line
    ]
    assert retries
    pipeline.backend.stop()

    connection = duckdb.connect(str(pipeline.backend.db_path), read_only=True)
    try:
        total, distinct = connection.execute(
            "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans"
        ).fetchone() or (0, 0)
        stored_traces = connection.execute("SELECT count(DISTINCT trace_id) FROM spans").fetchone()
    finally:
        connection.close()
    assert total == distinct == sum(expected.values())
    assert stored_traces == (len(expected),)
    # DuckDB compresses strings on disk: search every table's decoded rows, and the files.
    secrets = [secret for token in scenario_tokens() for secret in token.secrets]
    assert stored_secrets(pipeline.backend.db_path, secrets) == []
    # (The search itself works: a value the scenario does store is found.)
    assert ("spans.name", "GET /api/orders") in stored_secrets(
        pipeline.backend.db_path, ["GET /api/orders"]
    )
