"""``/api/anomalies``: the findings over HTTP, filtered, one by one, and their state changed."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.backend.detect.conftest import Detected
from tests.loopback import serve_asgi
from tokentrace_backend.api import create_api_app
from tokentrace_backend.detect import AnomalyKind

API_KEY = "anomalies-key"


@pytest.fixture(scope="module")
def client(detected: Detected) -> Iterator[httpx.Client]:
    app = create_api_app(detected.database, api_key=API_KEY)
    with (
        serve_asgi(app, lifespan="off") as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
        ) as http,
    ):
        yield http


def test_the_findings_are_listed_with_their_evidence(client: httpx.Client) -> None:
    answer = client.get("/api/anomalies")
    assert answer.status_code == 200
    findings = answer.json()["findings"]
    assert {finding["kind"] for finding in findings} == {kind.value for kind in AnomalyKind}
    stuffing = next(f for f in findings if f["kind"] == "credential_stuffing")
    assert stuffing["token_id"] is None
    assert stuffing["client_address"].startswith("198.51.100.")
    assert stuffing["evidence"]["counts"]["token_ids"] >= 10
    for finding in findings:
        assert finding["summary"] and finding["baseline"] and finding["evidence"]["trace_ids"]
        assert finding["first_seen"] <= finding["last_seen"]


def test_filters_narrow_the_list(client: httpx.Client) -> None:
    burst = client.get("/api/anomalies", params={"kind": "burst"}).json()["findings"]
    assert [finding["kind"] for finding in burst] == ["burst"]
    token = burst[0]["token_id"]
    mine = client.get("/api/anomalies", params={"token_id": token.upper()}).json()["findings"]
    assert {finding["token_id"] for finding in mine} == {token}
    critical = client.get("/api/anomalies", params={"severity": "critical"}).json()["findings"]
    assert [finding["kind"] for finding in critical] == ["use_after_revocation"]
    page = client.get("/api/anomalies", params={"limit": 2}).json()
    assert len(page["findings"]) == 2 and page["next_offset"] == 2
    recent = client.get("/api/anomalies", params={"since": "1h"}).json()["findings"]
    assert recent == [], "the evidence is weeks old in event time"


def test_a_finding_is_acknowledged_resolved_and_reopened(client: httpx.Client) -> None:
    finding = client.get("/api/anomalies", params={"kind": "odd_hours"}).json()["findings"][0]
    url = f"/api/anomalies/{finding['id']}"
    changed = client.patch(url, json={"state": "acknowledged", "actor": "on-call"})
    assert changed.status_code == 200
    assert changed.json()["state"] == "acknowledged"
    assert changed.json()["state_changed_by"] == "on-call"
    assert client.get(url).json()["state"] == "acknowledged"
    assert client.patch(url, json={"state": "resolved"}).json()["state"] == "resolved"
    listed = client.get("/api/anomalies", params={"state": "resolved", "kind": "odd_hours"})
    assert [f["id"] for f in listed.json()["findings"]] == [finding["id"]]
    assert client.patch(url, json={"state": "open"}).json()["state"] == "open"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/anomalies/999999", None, 404),
        ("PATCH", "/api/anomalies/999999", {"state": "resolved"}, 404),
        ("PATCH", "/api/anomalies/1", {"state": "closed"}, 422),
        ("PATCH", "/api/anomalies/1", {"state": "resolved", "note": "x"}, 422),
        ("PATCH", "/api/anomalies/1", {"state": "resolved", "actor": "a" * 201}, 422),
        ("GET", "/api/anomalies/0", None, 422),
        ("GET", "/api/anomalies/abc", None, 422),
        ("GET", "/api/anomalies?kind=nonsense", None, 422),
        ("GET", "/api/anomalies?token_id=' OR 1=1 --", None, 422),
        ("GET", "/api/anomalies?since=yesterday", None, 422),
    ],
)
def test_bad_requests_get_clear_errors(
    client: httpx.Client, method: str, path: str, body: object, status: int
) -> None:
    answer = client.request(method, path, json=body)
    assert answer.status_code == status, answer.text
    assert "a" * 201 not in answer.text  # a body's values are never echoed


def test_the_api_key_is_required(client: httpx.Client) -> None:
    assert httpx.get(f"{client.base_url}/api/anomalies").status_code == 401
    patched = httpx.patch(f"{client.base_url}/api/anomalies/1", json={"state": "resolved"})
    assert patched.status_code == 401
