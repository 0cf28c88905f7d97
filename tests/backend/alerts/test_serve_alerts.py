"""``tokentrace serve --alerts FILE`` end to end: a real server subprocess alerts a real
webhook on loopback of a finding stored in its database, shows it in ``/api/alerts`` and
``/metrics``, and after a restart sends only what is new; it alerts of a token used after a
rotation registered over its API. A bad rules file stops the start.

The server holds the DuckDB file's lock while it runs, so the findings are written into the
file while it is stopped (the detectors would write them in the server itself)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from tests.backend.alerts.stored_findings import (
    OTHER_TOKEN,
    TOKEN,
    insert_finding,
    insert_token,
    wait_until,
)
from tests.backend.alerts.webhook_receiver import WebhookReceiver
from tests.backend.ingest.serve_process import TOKENTRACE
from tests.backend.span_builder import SpanBuilder
from tokentrace.attributes import AuthOutcome
from tokentrace_backend.scenario.processes import ManagedProcess, free_port, http_ok, tcp_open
from tokentrace_backend.storage import Database

KEY = "serve-alerts-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
HEADER_SECRET = "x-hook-secret-value"


class AlertingServer:
    """``tokentrace serve --alerts FILE`` on free ports; restartable on the same file."""

    def __init__(self, tmp_path: Path, rules: Path) -> None:
        self.db_path = tmp_path / "serve.duckdb"
        self.api_url = f"http://127.0.0.1:{free_port()}"
        self.otlp_port = free_port()
        argv = [
            TOKENTRACE,
            "serve",
            "--db",
            str(self.db_path),
            "--port",
            self.api_url.rsplit(":", 1)[1],
            "--otlp-port",
            str(self.otlp_port),
            "--alerts",
            str(rules),
        ]
        env = {
            "TOKENTRACE_API_KEY": KEY,
            "TOKENTRACE_ALERT_POLL_MS": "100",
            "TOKENTRACE_ALERT_LIFECYCLE_POLL_MS": "100",
            "TOKENTRACE_DECODE_WORKERS": "0",
            "PYTHONUNBUFFERED": "1",
        }
        self.process = ManagedProcess("serve-alerts", argv, log_dir=tmp_path, env=env)

    def start(self) -> None:
        self.process.start()
        self.process.wait_ready(http_ok(f"{self.api_url}/api/session"), 60)
        self.process.wait_ready(tcp_open(self.otlp_port), 60)

    def stop(self) -> int | None:
        return self.process.stop(timeout=30)


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def rules_file(tmp_path: Path, hooks: WebhookReceiver) -> Path:
    path = tmp_path / "alerts.toml"
    path.write_text(
        f"""
[[rules]]
name = "security-oncall"
kinds = ["new_network", "credential_stuffing"]
min_severity = "high"
webhook_url = "{hooks.url("/oncall")}"
headers = {{ X-Hook-Secret = "{HEADER_SECRET}" }}
""",
        encoding="utf-8",
    )
    return path


def export_spans(server: AlertingServer, count: int) -> None:
    builder = SpanBuilder()
    try:
        for index in range(count):
            builder.request(
                "gateway",
                "/api/orders",
                token_id=TOKEN,
                outcome=AuthOutcome.SUCCESS.value,
                start_ns=time.time_ns() + index,
            )
        body = encode_spans(builder.exporter.get_finished_spans()).SerializeToString()
    finally:
        builder.shutdown()
    response = httpx.post(
        f"http://127.0.0.1:{server.otlp_port}/v1/traces",
        content=body,
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200


def metric(server: AlertingServer, line_start: str) -> float | None:
    text = httpx.get(server.api_url + "/metrics", headers=AUTH).text
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return None


def test_serve_alerts_on_a_stored_finding_once_across_a_restart(
    tmp_path: Path, hooks: WebhookReceiver
) -> None:
    server = AlertingServer(tmp_path, rules_file(tmp_path, hooks))
    database = Database(server.db_path)
    insert_token(database, TOKEN, "svc:ci")
    first = insert_finding(database, severity="critical")
    insert_finding(database, kind="burst", severity="critical")  # no rule wants bursts
    database.close()

    server.start()
    try:
        [alert] = hooks.wait_for("/oncall", 1, finding_id=first)
        assert alert.headers["X-Hook-Secret"] == HEADER_SECRET
        assert alert.body["tokentrace"]["owner"] == "svc:ci"
        assert alert.body["text"].startswith(f"[CRITICAL] new_network — token {TOKEN}")

        overview = wait_until(
            lambda: (
                (answer := httpx.get(server.api_url + "/api/alerts", headers=AUTH).json())[
                    "deliveries"
                ]
                and answer["deliveries"][0]["status"] == "delivered"
                and answer
            ),
            what="the delivery in /api/alerts",
        )
        assert [(d["rule"], d["finding_id"], d["attempts"]) for d in overview["deliveries"]] == [
            ("security-oncall", first, 1)
        ]
        assert overview["rules"][0]["webhook"] == hooks.url("/…")
        assert httpx.get(server.api_url + "/api/alerts").status_code == 401

        export_spans(server, 3)
        wait_until(
            lambda: metric(server, "tokentrace_spans_ingested_total") == 3,
            what="the spans in /metrics",
        )
        delivered = 'tokentrace_alert_deliveries{rule="security-oncall",status="delivered"}'
        assert metric(server, delivered) == 1
        findings = 'tokentrace_findings{kind="burst",severity="critical",state="open"}'
        assert metric(server, findings) == 1
        assert httpx.get(server.api_url + "/metrics").status_code == 401
    finally:
        assert server.stop() == 0

    database = Database(server.db_path)  # the server is stopped: the file is free
    second = insert_finding(database, kind="credential_stuffing", severity="high")
    database.close()
    server.start()
    try:
        hooks.wait_for("/oncall", 1, finding_id=second)
        assert [a.finding_id for a in hooks.received("/oncall")] == [first, second]
    finally:
        assert server.stop() == 0
    assert HEADER_SECRET not in server.process.log_bytes().decode(errors="replace")


def test_serve_alerts_on_a_token_used_after_its_rotation(
    tmp_path: Path, hooks: WebhookReceiver
) -> None:
    rules = tmp_path / "lifecycle.toml"
    rules.write_text(
        f"""
[[rules]]
name = "rotations"
lifecycle_states = ["rotated_still_used"]
webhook_url = "{hooks.url("/rotations")}"
""",
        encoding="utf-8",
    )
    server = AlertingServer(tmp_path, rules)
    server.start()
    try:
        rotated_at_s = time.time() - 600
        registered = httpx.post(
            server.api_url + "/api/lifecycle",
            json={
                "event": "rotated",
                "token_id": TOKEN,
                "new_token_id": OTHER_TOKEN,
                "at": rotated_at_s,
                "actor": "ops",
            },
            headers=AUTH,
        )
        assert registered.status_code == 201, registered.text
        export_spans(server, 3)  # requests now, ten minutes after the rotation

        [alert] = hooks.wait_for("/rotations", 1, timeout=30)
        tokentrace = alert.body["tokentrace"]
        assert (tokentrace["token_id"], tokentrace["lifecycle_state"]) == (
            TOKEN,
            "rotated_still_used",
        )
        details = tokentrace["details"]
        assert (details["event"], details["new_token_id"], details["source"]) == (
            "rotated",
            OTHER_TOKEN,
            "api",
        )
        assert details["requests_after"] == 3
        assert 590_000 < details["lag_ms"] < 660_000
        assert [(c["address"], c["requests"]) for c in details["clients"]] == [("10.0.0.1", 3)]
        assert alert.body["text"].startswith(f"[LIFECYCLE] rotated_still_used — token {TOKEN}")

        overview = wait_until(
            lambda: (
                (answer := httpx.get(server.api_url + "/api/alerts", headers=AUTH).json())[
                    "deliveries"
                ]
                and answer["deliveries"][0]["status"] == "delivered"
                and answer
            ),
            what="the delivery in /api/alerts",
        )
        [delivery] = overview["deliveries"]
        assert (delivery["source"], delivery["lifecycle_state"], delivery["token_id"]) == (
            "lifecycle",
            "rotated_still_used",
            TOKEN,
        )
        assert delivery["lifecycle_id"] == tokentrace["lifecycle_id"]
        assert overview["rules"][0]["lifecycle_states"] == ["rotated_still_used"]
    finally:
        assert server.stop() == 0


def run_serve(
    tmp_path: Path, *arguments: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TOKENTRACE, "serve", "--db", str(tmp_path / "x.duckdb"), *arguments],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_a_bad_rules_file_stops_the_start_naming_the_rule_and_field(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text(
        '[[rules]]\nname = "oncall"\nkinds = "all"\nmin_severity = "severe"\n'
        'webhook_url = "https://hooks.example.test/secret-path"\n',
        encoding="utf-8",
    )
    result = run_serve(tmp_path, "--alerts", str(rules))
    assert result.returncode == 2
    assert result.stderr.startswith(f"tokentrace serve: alert rules file {rules} is invalid:")
    assert "rule 'oncall' (rules[0]): field min_severity:" in result.stderr
    assert "secret-path" not in result.stderr
    assert not (tmp_path / "x.duckdb").exists()  # refused before opening anything


def test_the_rules_file_can_come_from_the_environment(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    result = run_serve(tmp_path, env={"TOKENTRACE_ALERTS": str(missing)})
    assert result.returncode == 2
    assert f"cannot read the alert rules file {missing}" in result.stderr
    assert not (tmp_path / "x.duckdb").exists()


def test_a_rules_file_naming_an_unknown_lifecycle_state_stops_the_start(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text(
        '[[rules]]\nname = "tokens"\nlifecycle_states = ["stale", "expird"]\n'
        'webhook_url = "https://hooks.example.test/secret-path"\n',
        encoding="utf-8",
    )
    result = run_serve(tmp_path, "--alerts", str(rules))
    assert result.returncode == 2
    assert result.stderr.startswith(f"tokentrace serve: alert rules file {rules} is invalid:")
    assert (
        "rule 'tokens' (rules[0]): field lifecycle_states: unknown lifecycle state(s) 'expird'"
        in result.stderr
    )
    assert "secret-path" not in result.stderr
    assert not (tmp_path / "x.duckdb").exists()
