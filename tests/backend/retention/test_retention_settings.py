"""The retention and client-address settings: flags win over variables, bad values stop the
start with a message naming them."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from tests.backend.ingest.serve_process import TOKENTRACE
from tokentrace import SettingsError
from tokentrace_backend.settings import RetentionSettings, ServeSettings, duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2w", timedelta(days=14)),
        ("14d", timedelta(days=14)),
        ("36h", timedelta(hours=36)),
        (" 90m", timedelta(minutes=90)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert duration(text, "--retention") == expected


@pytest.mark.parametrize("text", ["14", "0d", "-1d", "2y", "fortnight", ""])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(SettingsError, match="--retention must be a duration"):
        duration(text, "--retention")


def test_defaults_then_variables_then_flags() -> None:
    assert RetentionSettings.resolve(environ={}) == RetentionSettings(
        spans=timedelta(days=14), rollups=timedelta(days=400)
    )
    env = {"TOKENTRACE_RETENTION": "7d", "TOKENTRACE_ROLLUP_RETENTION": "90d"}
    assert RetentionSettings.resolve(environ=env).spans == timedelta(days=7)
    assert RetentionSettings.resolve("3d", "30d", environ=env) == RetentionSettings(
        spans=timedelta(days=3), rollups=timedelta(days=30)
    )
    with pytest.raises(SettingsError, match="TOKENTRACE_RETENTION must be a duration"):
        RetentionSettings.resolve(environ={"TOKENTRACE_RETENTION": "soon"})


def test_rollups_must_outlive_the_spans() -> None:
    with pytest.raises(SettingsError, match="at least the span retention"):
        RetentionSettings.resolve("30d", "7d", environ={})


def test_client_ip_flag_wins_over_its_variable(tmp_path: Path) -> None:
    env = {"TOKENTRACE_CLIENT_IP": "drop"}
    resolved = ServeSettings.resolve(db_path=tmp_path / "x.duckdb", environ=env)
    assert resolved.ingest.client_ip == "drop"
    resolved = ServeSettings.resolve(
        db_path=tmp_path / "x.duckdb", client_ip="truncate", environ=env
    )
    assert resolved.ingest.client_ip == "truncate"
    assert ServeSettings.resolve(db_path=tmp_path / "x.duckdb", environ={}).ingest.client_ip == (
        "keep"
    )
    with pytest.raises(SettingsError, match="TOKENTRACE_CLIENT_IP must be one of"):
        ServeSettings.resolve(
            db_path=tmp_path / "x.duckdb", environ={"TOKENTRACE_CLIENT_IP": "hash"}
        )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--retention", "soon"], "--retention must be a duration"),
        (["--retention", "30d", "--rollup-retention", "7d"], "at least the span retention"),
        (["--client-ip", "hash"], "invalid choice: 'hash'"),
    ],
)
def test_bad_flags_stop_the_start(tmp_path: Path, arguments: list[str], message: str) -> None:
    result = subprocess.run(
        [TOKENTRACE, "serve", "--db", str(tmp_path / "x.duckdb"), *arguments],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "x.duckdb").exists()
