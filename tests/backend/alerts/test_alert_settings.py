"""The alerting settings: ``--alerts`` over ``TOKENTRACE_ALERTS``, the delivery knobs from the
environment, bad values refused with the variable's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokentrace import SettingsError
from tokentrace_backend.settings import AlertSettings, ServeSettings


def test_defaults() -> None:
    assert AlertSettings.resolve(environ={}) == AlertSettings(
        rules_path=None,
        attempts=5,
        timeout_seconds=10.0,
        backoff_seconds=1.0,
        poll_seconds=1.0,
        lifecycle_poll_seconds=60.0,
    )


def test_the_option_wins_over_the_environment() -> None:
    env = {"TOKENTRACE_ALERTS": "/etc/env.toml"}
    assert AlertSettings.resolve(environ=env).rules_path == Path("/etc/env.toml")
    assert AlertSettings.resolve(Path("cli.toml"), environ=env).rules_path == Path("cli.toml")
    settings = ServeSettings.resolve(alerts_path=Path("cli.toml"), environ=env)
    assert settings.alerts.rules_path == Path("cli.toml")


def test_the_delivery_settings_come_from_the_environment() -> None:
    env = {
        "TOKENTRACE_ALERT_ATTEMPTS": "2",
        "TOKENTRACE_ALERT_TIMEOUT_MS": "1500",
        "TOKENTRACE_ALERT_BACKOFF_MS": "0",
        "TOKENTRACE_ALERT_POLL_MS": "250",
        "TOKENTRACE_ALERT_LIFECYCLE_POLL_MS": "5000",
    }
    settings = AlertSettings.resolve(environ=env)
    assert (settings.attempts, settings.timeout_seconds) == (2, 1.5)
    assert (settings.backoff_seconds, settings.poll_seconds) == (0.0, 0.25)
    assert settings.lifecycle_poll_seconds == 5.0


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TOKENTRACE_ALERT_ATTEMPTS", "0", "TOKENTRACE_ALERT_ATTEMPTS must be > 0, got 0"),
        ("TOKENTRACE_ALERT_TIMEOUT_MS", "soon", "TOKENTRACE_ALERT_TIMEOUT_MS must be an integer"),
        ("TOKENTRACE_ALERT_BACKOFF_MS", "-1", "TOKENTRACE_ALERT_BACKOFF_MS must be >= 0"),
        ("TOKENTRACE_ALERT_POLL_MS", "0", "TOKENTRACE_ALERT_POLL_MS must be > 0"),
        (
            "TOKENTRACE_ALERT_LIFECYCLE_POLL_MS",
            "1m",
            "TOKENTRACE_ALERT_LIFECYCLE_POLL_MS must be an integer",
        ),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        AlertSettings.resolve(environ={variable: value})
