"""An open ingest port (issue #14, item 7): on a non-loopback address, ``serve`` refuses
to take OTLP without ``TOKENTRACE_INGEST_KEY`` unless that is explicitly allowed, even
when the API has its key."""

from __future__ import annotations

import pytest

from tokentrace import SettingsError
from tokentrace_backend.settings import ServeSettings

API_ONLY = {"TOKENTRACE_API_KEY": "api-key"}


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "example.internal"])
def test_a_public_ingest_port_without_its_key_is_refused(host: str) -> None:
    with pytest.raises(SettingsError) as refused:
        ServeSettings.resolve(host=host, environ=API_ONLY)
    message = str(refused.value)
    assert "TOKENTRACE_INGEST_KEY" in message
    assert "TOKENTRACE_ALLOW_UNAUTHENTICATED_INGEST" in message
    assert "--allow-unauthenticated" in message
    assert "api-key" not in message


@pytest.mark.parametrize(
    ("environ", "allow"),
    [
        ({**API_ONLY, "TOKENTRACE_INGEST_KEY": "ingest-key"}, False),
        ({**API_ONLY, "TOKENTRACE_ALLOW_UNAUTHENTICATED_INGEST": "true"}, False),
        ({}, True),  # --allow-unauthenticated: both ports, as before
    ],
)
def test_a_key_or_an_explicit_choice_lets_it_start(environ: dict[str, str], allow: bool) -> None:
    settings = ServeSettings.resolve(host="0.0.0.0", environ=environ, allow_unauthenticated=allow)
    assert settings.host == "0.0.0.0"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_needs_no_ingest_key(host: str) -> None:
    assert ServeSettings.resolve(host=host, environ={}).ingest.ingest_key is None


def test_the_allowance_must_be_a_flag() -> None:
    with pytest.raises(SettingsError, match="TOKENTRACE_ALLOW_UNAUTHENTICATED_INGEST"):
        ServeSettings.resolve(
            host="0.0.0.0",
            environ={**API_ONLY, "TOKENTRACE_ALLOW_UNAUTHENTICATED_INGEST": "maybe"},
        )
