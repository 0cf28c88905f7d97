"""TOKENTRACE_API_KEY protects /api; /openapi.json stays open."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.backend.scenario import HEALTHY
from tests.loopback import serve_asgi
from tokentrace_backend.api import create_api_app
from tokentrace_backend.storage import Database

KEY = "s3cret-api-key"


@pytest.fixture
def protected_url(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TOKENTRACE_API_KEY", KEY)  # the environment is the fallback
    with serve_asgi(create_api_app(database), lifespan="off") as url:
        yield url


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {KEY}x"},
    ],
)
def test_requests_without_the_key_are_refused(protected_url: str, headers: dict[str, str]) -> None:
    for path in ("/api/tokens", f"/api/tokens/{HEALTHY}", "/api/dependencies", "/api/tokens/bad"):
        response = httpx.get(protected_url + path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "unauthorized"


def test_every_api_route_needs_the_key(database: Database) -> None:
    # Walks the app's own OpenAPI paths, so a route added later is covered too.
    app = create_api_app(database, api_key=KEY)
    paths = [
        path.replace("{token_id}", HEALTHY).replace("{trace_id}", HEALTHY)
        for path in app.openapi()["paths"]
        if path.startswith("/api")
    ]
    assert len(paths) >= 7
    wrong = "Bearer wrong-key-that-must-not-be-echoed"
    with serve_asgi(app, lifespan="off") as url:
        for path in paths:
            for headers in ({}, {"Authorization": wrong}):
                response = httpx.get(url + path, headers=headers)
                assert response.status_code == 401, path
                assert "wrong-key" not in response.text
                assert KEY not in response.text


def test_the_key_opens_the_api(protected_url: str) -> None:
    response = httpx.get(protected_url + "/api/tokens", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200
    assert response.json() == {"tokens": [], "next_offset": None}


def test_openapi_stays_open(protected_url: str) -> None:
    schema = httpx.get(protected_url + "/openapi.json").json()
    assert "/api/tokens/{token_id}/errors" in schema["paths"]
    assert KEY not in httpx.get(protected_url + "/openapi.json").text


def test_no_key_configured_means_open(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKENTRACE_API_KEY", raising=False)
    with serve_asgi(create_api_app(database), lifespan="off") as url:
        assert httpx.get(url + "/api/tokens").status_code == 200
