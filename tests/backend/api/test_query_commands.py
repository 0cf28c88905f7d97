"""``tokentrace tokens | token ID | errors ID`` run as real processes against a live API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.backend.scenario import EXPIRED, FAILING, HEALTHY, ROTATED, UNKNOWN, Scenario
from tests.loopback import serve_asgi
from tokentrace_backend.api import create_api_app

KEY = "cli-test-key"


def tokentrace(*args: str, api_key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TOKENTRACE_API_KEY"}
    if api_key is not None:
        env["TOKENTRACE_API_KEY"] = api_key
    return subprocess.run(
        [sys.executable, "-m", "tokentrace.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_tokens_table(api_url: str) -> None:
    result = tokentrace("tokens", "--url", api_url)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["TOKEN", "OWNER", "NAME"]
    healthy = next(row for row in rows if row.startswith(HEALTHY))
    assert "alice" in healthy
    assert "success=3" in healthy
    assert "gateway,legacy,orders" in healthy
    expired = next(row for row in rows if row.startswith(EXPIRED))
    assert "expired=2" in expired
    # columns are aligned: every row starts its second column where the header does
    owner_column = header.index("OWNER")
    assert all(row[owner_column - 2 : owner_column] == "  " for row in rows)


def test_tokens_filters_and_json(api_url: str) -> None:
    result = tokentrace("tokens", "--url", api_url, "--outcome", "expired", "--json")
    assert result.returncode == 0, result.stderr
    assert [t["token_id"] for t in json.loads(result.stdout)["tokens"]] == [EXPIRED]
    paged = tokentrace("tokens", "--url", api_url, "--limit", "2")
    assert "(more: --offset 2)" in paged.stdout


def test_token_summary(api_url: str) -> None:
    result = tokentrace("token", HEALTHY, "--url", api_url)
    assert result.returncode == 0, result.stderr
    assert f"token      {HEALTHY}" in result.stdout
    assert "ROUTES" in result.stdout
    assert "/orders" in result.stdout
    assert "10.0.0.1" in result.stdout
    rotated = tokentrace("token", ROTATED, "--url", api_url)
    assert "used after it was rotated or revoked" in rotated.stdout
    assert "LIFECYCLE" in rotated.stdout


def test_errors_table(api_url: str, scenario: Scenario) -> None:
    result = tokentrace("errors", FAILING, "--url", api_url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["SERVICE", "SPAN"]
    assert any("orders" in line and "RuntimeError" in line for line in lines)
    assert any(scenario.trace_ids["failing"] in line for line in lines)


def test_unknown_token_and_bad_parameters(api_url: str) -> None:
    unknown = tokentrace("token", UNKNOWN, "--url", api_url)
    assert unknown.returncode == 1
    assert f"no span carries token id {UNKNOWN}" in unknown.stderr
    bad = tokentrace("tokens", "--url", api_url, "--since", "yesterday")
    assert bad.returncode == 1
    assert "bad parameter: since" in bad.stderr


def test_unreachable_api() -> None:
    result = tokentrace("tokens", "--url", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert "cannot reach the API" in result.stderr


@pytest.mark.parametrize("command", ["token", "errors"])
def test_a_value_that_is_not_a_token_id_is_refused_unsent(api_url: str, command: str) -> None:
    # A raw token pasted instead of its id must not travel in a URL nor be printed back.
    for value in ("ghp_rawSecretToken0123456789abcdefgh", "../dependencies", HEALTHY + "0"):
        result = tokentrace(command, value, "--url", api_url)
        assert result.returncode == 2  # argparse usage error, before any request
        assert "32 hex characters" in result.stderr
        assert value not in result.stderr + result.stdout


@pytest.fixture
def protected_url(scenario: Scenario) -> Iterator[str]:
    with serve_asgi(create_api_app(scenario.database, api_key=KEY), lifespan="off") as url:
        yield url


def test_api_key_is_sent_as_bearer(protected_url: str) -> None:
    refused = tokentrace("tokens", "--url", protected_url)
    assert refused.returncode == 1
    assert "TOKENTRACE_API_KEY" in refused.stderr
    allowed = tokentrace("tokens", "--url", protected_url, api_key=KEY)
    assert allowed.returncode == 0, allowed.stderr
    assert HEALTHY in allowed.stdout
