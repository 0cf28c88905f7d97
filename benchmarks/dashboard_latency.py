"""How fast the dashboard answers an on-call engineer, in a real headless Chromium
(Debian's ``chromium``) against ``tokentrace demo``:

- tokens view: from navigation to the tokens table drawn;
- token page: from navigation to every section drawn (chart, findings, errors, graph);
- live: from a request span posted to OTLP ingest to its token's row appearing in an open
  tokens view (no reload): ingest, the background refresh, /api/events and the refetch.

    python benchmarks/dashboard_latency.py [--repeat 5]

Each figure is the median (and max) of ``--repeat`` runs, the first (cold) run reported
apart.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from playwright.sync_api import sync_playwright

from tokentrace import attributes as tt
from tokentrace_backend.scenario.processes import free_port
from tokentrace_backend.scenario.stack import tokentrace_command


def start_demo(directory: Path) -> tuple[subprocess.Popen[str], str, str, list[str]]:
    process = subprocess.Popen(
        [
            *tokentrace_command(),
            "demo",
            "--dir",
            str(directory),
            "--port",
            str(free_port()),
            "--otlp-port",
            str(free_port()),
            "--live-interval",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True).start()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        text = "".join(lines)
        dashboard = re.search(r"Dashboard:\s+(http://\S+)", text)
        otlp = re.search(r"OTLP/HTTP ingest:\s+(http://\S+)", text)
        if dashboard and otlp:
            return process, dashboard.group(1), otlp.group(1), lines
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the demo did not start:\n" + "".join(lines))


def post_request_span(otlp_url: str, token_id: str) -> None:
    now = time.time_ns()
    span = Span(
        trace_id=secrets.token_bytes(16),
        span_id=secrets.token_bytes(8),
        name="GET /live",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=now,
        end_time_unix_nano=now + 1_000_000,
        attributes=[
            KeyValue(key=tt.TOKEN_ID, value=AnyValue(string_value=token_id)),
            KeyValue(key=tt.AUTH_OUTCOME, value=AnyValue(string_value="success")),
        ],
    )
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(
                    attributes=[KeyValue(key="service.name", value=AnyValue(string_value="live"))]
                ),
                scope_spans=[ScopeSpans(spans=[span])],
            )
        ]
    )
    httpx.post(
        otlp_url,
        content=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    ).raise_for_status()


def summary(name: str, values: list[float]) -> str:
    cold, warm = values[0], values[1:] or values
    return (
        f"{name:<36} cold {cold * 1000:6.0f} ms   "
        f"warm median {statistics.median(warm) * 1000:6.0f} ms   "
        f"max {max(warm) * 1000:6.0f} ms   (n={len(values)})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args(argv)
    chromium = shutil.which("chromium")
    if chromium is None:
        print("needs Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tokentrace-dashboard-bench-") as scratch:
        process, dashboard, otlp, _ = start_demo(Path(scratch) / "data")
        try:
            finding = httpx.get(
                dashboard + "api/anomalies", params={"kind": "use_after_revocation"}
            ).json()
            busy_token = finding["findings"][0]["token_id"]
            tokens_view, token_page, live = [], [], []
            with sync_playwright() as driver:
                browser = driver.chromium.launch(
                    executable_path=chromium, args=["--no-sandbox"] if os.geteuid() == 0 else []
                )
                for _ in range(arguments.repeat):
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    started = time.perf_counter()
                    page.goto(dashboard + "#/tokens")
                    page.wait_for_selector("#tokens-table tbody tr")
                    tokens_view.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    page.goto(dashboard + f"#/tokens/{busy_token}")
                    page.wait_for_selector("#timeline-chart canvas")
                    page.wait_for_selector("table.findings, [data-empty=findings]")
                    page.wait_for_selector("svg.graph, .graph-holder, section.card.wide p")
                    page.wait_for_function(
                        "document.querySelectorAll('#main section.card').length >= 8"
                    )
                    token_page.append(time.perf_counter() - started)

                    page.goto(dashboard + "#/tokens")
                    page.wait_for_selector("#tokens-table tbody tr")
                    page.wait_for_function(
                        "document.querySelector('#live').classList.contains('on')"
                    )
                    token_id = secrets.token_hex(16)
                    started = time.perf_counter()
                    post_request_span(otlp, token_id)
                    page.wait_for_selector(f'tr[data-token-id="{token_id}"]', timeout=30_000)
                    live.append(time.perf_counter() - started)
                    page.close()
                browser.close()
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
    print(f"tokentrace dashboard, Chromium headless, the demo's data ({os.cpu_count()} cores)")
    print(summary("tokens view drawn", tokens_view))
    print(summary("token page drawn (8 sections)", token_page))
    print(summary("new request shown, live (no reload)", live))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
