"""Detection in a real ``tokentrace serve``: the traffic goes in over OTLP/HTTP, the
background thread derives and detects, and every incident is a finding in
``/api/anomalies`` well within 60 s of its spans being acknowledged."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.backend.detect.conftest import START_NS, build_traffic
from tests.backend.ingest.serve_process import ServeProcess
from tokentrace_backend.scenario.incidents import export_requests

DETECTION_DEADLINE_SECONDS = 60


def test_every_incident_becomes_a_finding_within_a_minute(tmp_path: Path) -> None:
    traffic, clean = build_traffic(11, START_NS)
    expected = {
        (incident.kind.value, incident.token_id or incident.client_address)
        for incident in traffic.incidents
    }
    with ServeProcess(tmp_path / "spans.duckdb") as server, httpx.Client(timeout=60) as http:
        for body in export_requests(traffic):
            answer = http.post(
                server.traces_url,
                content=body,
                headers={"Content-Type": "application/x-protobuf"},
            )
            assert answer.status_code == 200, answer.text
        acknowledged = time.monotonic()
        found: set[tuple[str, str]] = set()
        while time.monotonic() - acknowledged < DETECTION_DEADLINE_SECONDS:
            page = http.get(f"{server.api_url}/api/anomalies", params={"limit": 1000}).json()
            found = {
                (finding["kind"], finding["token_id"] or finding["client_address"])
                for finding in page["findings"]
            }
            if found >= expected:
                break
            time.sleep(0.2)
        assert found == expected, f"missing {expected - found}, unexpected {found - expected}"
        assert not {subject for _, subject in found} & set(clean)
        assert "Traceback" not in server.log()
