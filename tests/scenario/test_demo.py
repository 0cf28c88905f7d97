"""``tokentrace demo --once``: the whole embedded system in one command, as a user runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import duckdb
import pytest

from tokentrace_backend.scenario.stack import scenario_fingerprinter, tokentrace_command
from tokentrace_backend.scenario.tokens import scenario_tokens, token_by_name
from tokentrace_backend.storage.database import stored_files


@pytest.mark.slow
def test_demo_once_prints_outcomes_errors_and_dependencies(tmp_path: Path) -> None:
    db_path = tmp_path / "demo.duckdb"
    result = subprocess.run(
        [*tokentrace_command(), "demo", "--once", "--rounds", "2", "--db", str(db_path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert "warning" not in output

    fingerprint = scenario_fingerprinter().fingerprint
    token_lines = {
        line.split()[0]: line
        for line in output.splitlines()
        if line.startswith("  ") and len(line.split()) > 4
    }
    for token in scenario_tokens():
        line = token_lines[fingerprint(token.raw)]
        assert token.name in line
        assert f"{token.expected_outcome}={2 * len(token.requests)}" in line

    errors = output.split("Downstream errors of the faulty token")[1].split("Dependency map")[0]
    assert "2 x orders: SELECT [sqlite3.OperationalError] no such table: orders_legacy" in errors
    dependencies = output.split("Dependency map of the healthy token")[1]
    assert "gateway -> orders (service): 4 calls, 0 errors" in dependencies
    assert "orders -> sqlite (database): 4 calls, 0 errors" in dependencies

    # Nothing the demo printed or stored holds a raw token; the backend was stopped.
    connection = duckdb.connect(str(db_path), read_only=True)
    try:
        (spans,) = connection.execute("SELECT count(*) FROM spans").fetchone() or (0,)
    finally:
        connection.close()
    assert spans > 0
    stored = b"".join(path.read_bytes() for path in stored_files(tmp_path / "demo.duckdb"))
    for token in scenario_tokens():
        for secret in token.secrets:
            assert secret not in output + result.stderr
            assert secret.encode() not in stored
    assert token_by_name("faulty").owner in output
