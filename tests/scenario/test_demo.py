"""``tokentrace demo``: the whole embedded system in one command, as a user runs it: a
history with one incident of every anomaly kind, the scenario's services and tokens, and
the summary of what tokentrace found."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from tests.leak_search import stored_secrets
from tokentrace_backend.detect.kinds import AnomalyKind
from tokentrace_backend.scenario.stack import scenario_fingerprinter, tokentrace_command
from tokentrace_backend.scenario.tokens import scenario_tokens, token_by_name

# Findings lines: "  kind  severity  token-id-or-address  summary".
_FINDING = re.compile(r"^  ([a-z_]+)\s+(low|medium|high|critical)\s+(\S+)\s+(.+)$")


def _section(output: str, start: str, end: str | None = None) -> str:
    part = output.split(start, 1)[1]
    return part.split(end, 1)[0] if end else part


def _requests_stored(db_path: Path, token_id: str) -> int:
    connection = duckdb.connect(str(db_path), read_only=True)
    try:
        row = connection.execute(
            "SELECT count(*) FROM spans WHERE token_id = ? AND kind = 2 "
            "AND auth_outcome IS NOT NULL",
            [token_id],
        ).fetchone()
    finally:
        connection.close()
    return int(row[0]) if row else 0


def _tokens_table(output: str) -> dict[str, str]:
    """The scenario tokens table's lines, by token id."""
    table = _section(output, "\nScenario tokens", "\nDownstream errors")
    return {line.split()[0]: line for line in table.splitlines()[2:] if line.strip()}


@pytest.mark.slow
def test_demo_once_shows_every_finding_lifecycle_errors_and_dependencies(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    result = subprocess.run(
        [*tokentrace_command(), "demo", "--once", "--rounds", "2", "--dir", str(work)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "warning" not in output, output
    assert f"Data directory: {work}" in output

    # One finding for every injected incident: every anomaly kind but those the history
    # could not inject yet (it says so in a note).
    skipped = set(re.findall(r"^note: no ([a-z_]+) incident", output, re.MULTILINE))
    injected = [kind for kind in AnomalyKind if kind.value not in skipped]
    assert len(injected) >= len(AnomalyKind) - 1, skipped
    assert f"{len(injected)} of the {len(injected)} injected incidents found" in output
    findings = _section(output, "\nFindings:", "\nLifecycle states")
    kinds = {match[1] for line in findings.splitlines() if (match := _FINDING.match(line))}
    assert {kind.value for kind in injected} <= kinds, findings

    fingerprint = scenario_fingerprinter().fingerprint
    ids = {token.name: fingerprint(token.raw) for token in scenario_tokens()}
    lifecycle = _section(output, "\nLifecycle states", "\nScenario tokens")
    lines = {line.split()[0]: line for line in lifecycle.splitlines()[1:] if line.strip()}
    assert ids["rotated-old"] in lines["rotated-old"]
    assert "rotated_still_used" in lines["rotated-old"]
    assert "rotated to rotated-new" in lines["rotated-old"]
    assert "expired" in lines["expired-jwt"].split(ids["expired-jwt"])[1]
    assert "expired at 2023-11-14 22:13:20 UTC" in lines["expired-jwt"]
    assert "revoked" in lines["revoked"].split(ids["revoked"])[1]

    token_lines = _tokens_table(output)
    for token in scenario_tokens():
        line = token_lines[ids[token.name]]
        assert token.name in line
        assert f"{token.expected_outcome}={2 * len(token.requests)}" in line
    assert token_by_name("faulty").owner in output

    errors = _section(output, "Downstream errors of the faulty token", "Dependency map")
    assert "2 x orders: SELECT [sqlite3.OperationalError] no such table: orders_legacy" in errors
    dependencies = _section(output, "Dependency map of the healthy token", "\nDashboard:")
    assert "gateway -> orders (service): 4 calls, 0 errors" in dependencies
    assert "orders -> sqlite (database): 4 calls, 0 errors" in dependencies
    assert re.search(r"^Dashboard:\s+http://127\.0\.0\.1:\d+/$", output, re.MULTILINE), output
    assert re.search(
        r"^Ready in [\d.]+ s: generate [\d.]+ s, backend [\d.]+ s, ", output, re.MULTILINE
    )

    # Nothing the demo printed, logged or stored holds a raw token; the backend stopped
    # (the database opens read-only) and the data directory was kept (--dir).
    db_path = work / "tokentrace.duckdb"
    logs = b"".join(path.read_bytes() for path in (work / "logs").glob("*.log"))
    assert logs
    # The gateway's access log is on (redacted): the query-api-key token's request line
    # is there, so the search of the logs below would see a leak of it.
    assert b'"GET /api/orders?api_key=REDACTED HTTP/1.1" 200' in logs
    secrets = [secret for token in scenario_tokens() for secret in token.secrets]
    for secret in secrets:
        assert secret not in output + result.stderr
        assert secret.encode() not in logs
    assert stored_secrets(db_path, secrets) == []
    # (The search itself works: a value the scenario does store is found.)
    assert ("spans.error_message", "orders_legacy") in stored_secrets(db_path, ["orders_legacy"])


@pytest.mark.slow
def test_demo_duration_serves_live_traffic_then_exits_by_itself(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    duration = 2.0
    serving_at = None
    lines = []
    with subprocess.Popen(
        [
            *tokentrace_command(),
            "demo",
            "--rounds",
            "1",
            "--duration",
            str(duration),
            "--live-interval",
            "0.5",
            "--dir",
            str(work),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stderr is not None
            for line in process.stdout:
                lines.append(line)
                if line.startswith("Serving ("):
                    serving_at = time.monotonic()
            code = process.wait(timeout=60)
            stopped_at = time.monotonic()
            stderr = process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
    output = "".join(lines)
    assert code == 0, output + stderr
    assert "Traceback" not in stderr, stderr
    assert serving_at is not None, output
    # It served for the duration, then stopped the services and the backend by itself.
    assert duration <= stopped_at - serving_at < duration + 30, output
    stopping = re.search(r"Stopping after ([\d.]+) s of serving: (\d+) live round", output)
    assert stopping, output
    assert float(stopping[1]) >= duration
    assert int(stopping[2]) >= 2

    # The live rounds reached the backend: more requests than the summary counted.
    healthy = scenario_fingerprinter().fingerprint(token_by_name("healthy-user").raw)
    summary_requests = int(_tokens_table(output)[healthy].split()[3])
    assert summary_requests == len(token_by_name("healthy-user").requests)
    assert _requests_stored(work / "tokentrace.duckdb", healthy) > summary_requests
