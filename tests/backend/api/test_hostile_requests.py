"""Hostile requests at the correlation API (issue #14, items 2 and 5): a 422 names the
field and never echoes what was sent; a non-ASCII key works in a header as in the sign-in;
whitespace after ``Bearer`` is accepted; without the key, an unknown ``/api`` path or a
wrong method answers 401, not 404/405; the dashboard's page and the sign-in stay open."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.backend.scenario import HEALTHY
from tests.loopback import serve_asgi
from tokentrace_backend.api import create_api_app
from tokentrace_backend.api.sessions import DASHBOARD_HEADER
from tokentrace_backend.storage import Database

KEY = "ключ-clé-🔑"
SECRET = "planted-secret-0123456789"


@pytest.fixture
def open_url(database: Database) -> Iterator[str]:
    with serve_asgi(create_api_app(database, api_key=""), lifespan="off") as url:
        yield url


@pytest.fixture
def protected_url(database: Database) -> Iterator[str]:
    with serve_asgi(create_api_app(database, api_key=KEY), lifespan="off") as url:
        yield url


def with_key(authorization: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"Authorization", authorization)]


BEARER = b"Bearer " + KEY.encode("utf-8")  # what a client puts on the wire


@pytest.mark.parametrize(
    "path",
    [
        f"/api/tokens?since={SECRET}",
        f"/api/tokens?since=1h&until={SECRET}",
        f"/api/tokens?limit={SECRET}",
        f"/api/tokens?outcome={SECRET}",
        f"/api/tokens/{SECRET}",
        f"/api/tokens/{SECRET}{'x' * 10_000}",
        f"/api/tokens/{HEALTHY}/timeline?bucket={SECRET}",
        f"/api/traces/{SECRET}",
    ],
)
def test_a_422_names_the_field_and_never_echoes_the_value(open_url: str, path: str) -> None:
    response = httpx.get(open_url + path)
    assert response.status_code == 422, response.text
    assert SECRET not in response.text
    assert len(response.content) < 2_000
    for detail in response.json()["detail"]:
        assert set(detail) == {"type", "loc", "msg"}
        assert detail["loc"][0] in ("query", "path")


def test_a_body_error_names_the_field_and_cuts_an_unknown_name(open_url: str) -> None:
    body = {"event": SECRET, "token_id": HEALTHY, SECRET + "z" * 1_000: SECRET}
    response = httpx.post(open_url + "/api/lifecycle", json=body)
    assert response.status_code == 422
    assert SECRET + "z" * 100 not in response.text
    assert all(set(detail) == {"type", "loc", "msg"} for detail in response.json()["detail"])


@pytest.mark.parametrize(
    "authorization",
    [BEARER, b"bearer " + KEY.encode(), b"Bearer    " + KEY.encode()],
)
def test_a_non_ascii_key_in_the_header_opens_the_api(
    protected_url: str, authorization: bytes
) -> None:
    response = httpx.get(protected_url + "/api/tokens", headers=with_key(authorization))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer " + KEY.encode("utf-8")[:-1],
        b"Bearer " + KEY.encode("latin-1", "replace"),
        b"Bearer" + KEY.encode(),
        b"Token " + KEY.encode(),
        b"Bearer " + KEY.encode() + b" x",
    ],
)
def test_anything_else_is_refused(protected_url: str, authorization: bytes) -> None:
    response = httpx.get(protected_url + "/api/tokens", headers=with_key(authorization))
    assert response.status_code == 401


def test_the_sign_in_takes_the_non_ascii_key_from_its_json_body(protected_url: str) -> None:
    with httpx.Client(base_url=protected_url) as browser:
        assert browser.post("/api/session", json={"key": KEY}).status_code == 200
        assert browser.get("/api/tokens").status_code == 200
        lifecycle = {"event": "revoked", "token_id": HEALTHY}
        stored = browser.post("/api/lifecycle", json=lifecycle, headers={DASHBOARD_HEADER: "1"})
        assert stored.status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "with_the_key"),
    [
        ("GET", "/api/no-such-route", 404),
        ("GET", "/api", 404),
        ("GET", "/api/", 404),
        ("DELETE", "/api/tokens", 405),
        ("PUT", f"/api/tokens/{HEALTHY}", 405),
        ("POST", "/metrics", 405),
        ("GET", "/api/tokens/..%2F..%2Fmetrics", 404),
    ],
)
def test_without_the_key_no_route_is_told_apart(
    protected_url: str, method: str, path: str, with_the_key: int
) -> None:
    refused = httpx.request(method, protected_url + path)
    assert refused.status_code == 401, (method, path)
    assert refused.json()["error"]["code"] == "unauthorized"
    if with_the_key != 401:
        answered = httpx.request(method, protected_url + path, headers=with_key(BEARER))
        assert answered.status_code == with_the_key


def test_the_dashboard_and_the_sign_in_stay_open(protected_url: str) -> None:
    page = httpx.get(protected_url + "/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert httpx.get(protected_url + "/api/session").json()["key_required"] is True
    assert httpx.delete(protected_url + "/api/session").status_code == 200
