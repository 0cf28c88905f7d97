"""TOKENTRACE_API_KEY protects /api (but /api/session, where a browser signs in), /metrics,
the OpenAPI viewers and the schema's paths."""

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
    # Walks the app's own OpenAPI paths and methods, so a route added later is covered too.
    app = create_api_app(database, api_key=KEY)
    operations = [
        (method, path.replace("{token_id}", HEALTHY).replace("{trace_id}", HEALTHY))
        for path, methods in app.openapi()["paths"].items()
        if path.startswith("/api") and path != "/api/session"  # the sign-in (test_sessions)
        for method in methods
    ]
    assert len(operations) >= 9
    assert ("post", "/api/lifecycle") in operations
    wrong = "Bearer wrong-key-that-must-not-be-echoed"
    # a body that would be valid, so that only the key can refuse it
    body = {"event": "created", "token_id": HEALTHY}
    with serve_asgi(app, lifespan="off") as url:
        for method, path in operations:
            for headers in ({}, {"Authorization": wrong}):
                response = httpx.request(method, url + path, headers=headers, json=body)
                assert response.status_code == 401, (method, path)
                assert "wrong-key" not in response.text
                assert KEY not in response.text


def test_the_key_opens_the_api(protected_url: str) -> None:
    response = httpx.get(protected_url + "/api/tokens", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200
    assert response.json() == {"tokens": [], "next_offset": None}


def test_registering_a_lifecycle_event_needs_the_key(protected_url: str) -> None:
    body = {"event": "revoked", "token_id": HEALTHY}
    refused = httpx.post(protected_url + "/api/lifecycle", json=body)
    assert refused.status_code == 401
    with_key = {"Authorization": f"Bearer {KEY}"}
    lifecycle = f"{protected_url}/api/tokens/{HEALTHY}/lifecycle"
    assert httpx.get(lifecycle, headers=with_key).status_code == 404  # nothing was stored
    stored = httpx.post(protected_url + "/api/lifecycle", json=body, headers=with_key)
    assert stored.status_code == 201
    events = httpx.get(lifecycle, headers=with_key).json()["events"]
    assert [(e["event"], e["source"]) for e in events] == [("revoked", "api")]


def test_openapi_and_its_viewers_need_the_key(protected_url: str) -> None:
    # They list every route; with a key, only a caller that has it reads them (curl -H).
    for path in ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"):
        refused = httpx.get(protected_url + path)
        assert refused.status_code == 401, path
        assert "/api/tokens" not in refused.text
    with_key = {"Authorization": f"Bearer {KEY}"}
    schema = httpx.get(protected_url + "/openapi.json", headers=with_key).json()
    assert "/api/tokens/{token_id}/errors" in schema["paths"]
    assert KEY not in httpx.get(protected_url + "/openapi.json", headers=with_key).text
    # What stays open: the dashboard's static page and the sign-in (a readiness probe).
    assert httpx.get(protected_url + "/").status_code == 200
    assert httpx.get(protected_url + "/api/session").status_code == 200


def test_no_key_configured_means_open(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKENTRACE_API_KEY", raising=False)
    with serve_asgi(create_api_app(database), lifespan="off") as url:
        assert httpx.get(url + "/api/tokens").status_code == 200
