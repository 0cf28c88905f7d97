"""`tokentrace serve` start-up checks."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backend.ingest.serve_process import TOKENTRACE, ServeProcess
from tokentrace_backend.settings import is_loopback


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.10", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_non_loopback_bind_without_api_key_is_refused(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "TOKENTRACE_API_KEY"}
    result = subprocess.run(
        [TOKENTRACE, "serve", "--db", str(tmp_path / "x.duckdb"), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "TOKENTRACE_API_KEY" in result.stderr
    assert "--allow-unauthenticated" in result.stderr
    assert not (tmp_path / "x.duckdb").exists()  # refused before opening anything


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TOKENTRACE_QUEUE_SPANS", "lots", "TOKENTRACE_QUEUE_SPANS must be an integer"),
        (
            "TOKENTRACE_DECODER",
            "fortran",
            "TOKENTRACE_DECODER must be one of auto, native, python",
        ),
        ("TOKENTRACE_DUCKDB_MEMORY_LIMIT", "lots", "TOKENTRACE_DUCKDB_MEMORY_LIMIT must be a size"),
    ],
)
def test_bad_setting_is_reported_at_start(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    result = subprocess.run(
        [TOKENTRACE, "serve", "--db", str(tmp_path / "x.duckdb")],
        capture_output=True,
        text=True,
        env={**os.environ, variable: value},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "x.duckdb").exists()


def test_a_database_held_by_another_server_is_reported(
    start_server: Callable[..., ServeProcess], tmp_path: Path
) -> None:
    server = start_server()
    result = subprocess.run(
        [TOKENTRACE, "serve", "--db", str(server.db_path), "--port", "0", "--otlp-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"cannot open {server.db_path}" in result.stderr
    assert "Traceback" not in result.stderr
