"""The whole backend as users run it: ``tokentrace serve`` as a subprocess, spans sent by
the OTel SDK's OTLP/HTTP exporter, answers read over HTTP and through the CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind

from tests.backend.ingest.serve_process import ServeProcess
from tests.backend.span_builder import NS_PER_MS, SpanBuilder, trace_id_of
from tokentrace import attributes as tt

API_KEY = "e2e-api-key"
JAEGER = "http://jaeger.local:16686"
TOKEN = "0123456789abcdef0123456789abcdef"


def test_serve_ingests_over_otlp_and_answers_over_the_api(tmp_path: Path) -> None:
    env = {"TOKENTRACE_API_KEY": API_KEY, "TOKENTRACE_JAEGER_URL": JAEGER}
    with ServeProcess(tmp_path / "spans.duckdb", env) as server:
        spans = SpanBuilder()
        t = time.time_ns() - 60_000 * NS_PER_MS
        root = spans.request("gateway", "/orders", token_id=TOKEN, outcome="success", start_ns=t)
        call = spans.span(
            "gateway",
            "GET",
            kind=SpanKind.CLIENT,
            start_ns=t + 1,
            parent=root,
            attributes={tt.TOKEN_ID: TOKEN, "server.address": "orders"},
        )
        orders = spans.span(
            "orders",
            "GET /orders",
            kind=SpanKind.SERVER,
            start_ns=t + 2,
            parent=call,
            attributes={"http.response.status_code": 500},
        )
        spans.span(
            "orders",
            "SELECT",
            kind=SpanKind.CLIENT,
            start_ns=t + 3,
            parent=orders,
            attributes={"db.system.name": "sqlite"},
            error=RuntimeError("no such table: orders"),
        )
        exporter = OTLPSpanExporter(endpoint=server.traces_url)
        try:
            assert exporter.export(spans.exporter.get_finished_spans()) == SpanExportResult.SUCCESS
        finally:
            exporter.shutdown()
            spans.shutdown()

        bearer = {"Authorization": f"Bearer {API_KEY}"}
        assert httpx.get(f"{server.api_url}/api/tokens").status_code == 401
        # The background refresh derives the acknowledged spans within about a second.
        errors_url = f"{server.api_url}/api/tokens/{TOKEN}/errors"
        deadline = time.monotonic() + 10
        while (answer := httpx.get(errors_url, headers=bearer)).status_code == 404:
            assert time.monotonic() < deadline, "the token was never derived"
            time.sleep(0.05)
        errors = answer.json()
        groups = {(g["service"], g["span_name"], g["error_type"]) for g in errors["errors"]}
        assert groups == {
            ("orders", "GET /orders", "HTTP 500"),
            ("orders", "SELECT", "RuntimeError"),
        }
        trace_id = trace_id_of(root)
        assert errors["errors"][0]["jaeger_urls"] == [f"{JAEGER}/trace/{trace_id}"]
        graph = httpx.get(f"{server.api_url}/api/tokens/{TOKEN}/dependencies", headers=bearer)
        edges = {(e["source"], e["target"], e["errors"]) for e in graph.json()["edges"]}
        assert edges == {("gateway", "orders", 1), ("orders", "sqlite", 1)}

        cli = subprocess.run(
            [sys.executable, "-m", "tokentrace.cli", "errors", TOKEN, "--url", server.api_url],
            capture_output=True,
            text=True,
            env={"TOKENTRACE_API_KEY": API_KEY, "PATH": "/usr/bin:/bin"},
            timeout=60,
            check=False,
        )
        assert cli.returncode == 0, cli.stderr
        assert "no such table: orders" in cli.stdout
