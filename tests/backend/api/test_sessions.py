"""Dashboard sessions (api/sessions.py): the API key is exchanged once for a cookie that
holds a session, never the key; the cookie opens /api for reading, and a change needs the
dashboard's header too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.loopback import serve_asgi
from tokentrace_backend.api import create_api_app
from tokentrace_backend.api.sessions import (
    DASHBOARD_HEADER,
    SESSION_COOKIE,
    new_session,
    session_is_valid,
)
from tokentrace_backend.storage import Database

KEY = "s3cret-dashboard-kéy"  # non-ASCII on purpose: compared as UTF-8 bytes


@pytest.fixture
def url(database: Database) -> Iterator[str]:
    with serve_asgi(create_api_app(database, api_key=KEY), lifespan="off") as served:
        yield served


@contextmanager
def _signed_in(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url) as client:
        response = client.post("/api/session", json={"key": KEY})
        assert response.status_code == 200, response.text
        yield client


def test_the_session_state_is_open_and_says_a_key_is_needed(url: str) -> None:
    response = httpx.get(url + "/api/session")
    assert response.status_code == 200
    assert response.json() == {"key_required": True, "signed_in": False, "expires_at": None}


def test_a_wrong_key_gets_no_cookie_and_is_not_echoed(url: str) -> None:
    response = httpx.post(url + "/api/session", json={"key": "wrong-key-not-echoed"})
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert "wrong-key" not in response.text


def test_signing_in_sets_a_strict_http_only_cookie_without_the_key(url: str) -> None:
    response = httpx.post(url + "/api/session", json={"key": KEY})
    assert response.status_code == 200
    assert response.json()["signed_in"] is True
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    lowered = cookie.lower()
    assert "httponly" in lowered
    assert "samesite=strict" in lowered
    assert "path=/api" in lowered
    assert KEY not in cookie
    assert KEY.encode("utf-8").hex() not in cookie
    assert KEY not in response.text


def test_the_cookie_opens_the_api_for_reading(url: str) -> None:
    assert httpx.get(url + "/api/tokens").status_code == 401
    with _signed_in(url) as client:
        assert client.get("/api/tokens").status_code == 200
        assert client.get("/api/session").json()["signed_in"] is True


def test_a_change_by_cookie_needs_the_dashboard_header(url: str) -> None:
    body = {"event": "revoked", "token_id": "0" * 32}
    with _signed_in(url) as client:
        refused = client.post("/api/lifecycle", json=body)
        assert refused.status_code == 401
        assert DASHBOARD_HEADER in refused.json()["error"]["message"]
        accepted = client.post("/api/lifecycle", json=body, headers={DASHBOARD_HEADER: "1"})
        assert accepted.status_code == 201, accepted.text


def test_signing_out_forgets_the_session(url: str) -> None:
    with _signed_in(url) as client:
        response = client.delete("/api/session")
        assert response.status_code == 200
        assert "max-age=0" in response.headers["set-cookie"].lower()
        assert client.get("/api/tokens").status_code == 401


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "1.2.3",
        f"{int(time.time()) + 3600}.00.{'0' * 64}",
        "9" * 300,
    ],
)
def test_forged_session_values_are_refused(url: str, value: str) -> None:
    response = httpx.get(url + "/api/tokens", cookies={SESSION_COOKIE: value})
    assert response.status_code == 401


def test_a_session_is_bound_to_the_key_and_expires() -> None:
    value, expires = new_session(KEY, now_s=1_000)
    assert session_is_valid(value, KEY, now_s=1_001)
    assert not session_is_valid(value, KEY + "x", now_s=1_001)  # a new key ends it
    assert not session_is_valid(value, KEY, now_s=expires)
    tampered = value.split(".")
    tampered[0] = str(expires + 10**6)  # a later expiry breaks the MAC
    assert not session_is_valid(".".join(tampered), KEY, now_s=1_001)


def test_without_a_key_the_session_says_open(database: Database) -> None:
    with serve_asgi(create_api_app(database, api_key=""), lifespan="off") as served:
        state = httpx.get(served + "/api/session").json()
        assert state == {"key_required": False, "signed_in": True, "expires_at": None}
