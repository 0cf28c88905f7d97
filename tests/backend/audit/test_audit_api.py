"""``GET /api/audit``, and the API's own actions recorded in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.backend.audit.stored_trail import StoredTrail
from tests.backend.scenario import ROTATED, ROTATED_TO, SERVICE_TOKEN
from tests.loopback import serve_asgi
from tokentrace_backend.api import create_api_app
from tokentrace_backend.audit import (
    AuditFollower,
    AuditRecord,
    Checkpoint,
    load_private_key,
    public_key_hex,
    verify_records,
)
from tokentrace_backend.storage import Database

API_KEY = "audit-key"


@pytest.fixture
def client(trail: StoredTrail) -> Iterator[httpx.Client]:
    database = Database(trail.db_path)
    key = load_private_key(trail.key_path)
    app = create_api_app(database, api_key=API_KEY, audit=AuditFollower(key))
    with (
        serve_asgi(app, lifespan="off") as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}) as http,
    ):
        yield http
    database.close()


def test_the_trail_is_listed_by_page_with_its_checkpoints(
    trail: StoredTrail, client: httpx.Client
) -> None:
    first = client.get("/api/audit", params={"limit": 25}).json()
    rest = client.get("/api/audit", params={"offset": first["next_offset"]}).json()
    assert first["next_offset"] == 25 and rest["next_offset"] is None
    records = first["records"] + rest["records"]
    assert [record["seq"] for record in records] == list(range(1, 41))
    assert [checkpoint["seq"] for checkpoint in first["checkpoints"]] == [8, 40]
    assert first["public_key"] == public_key_hex(load_private_key(trail.key_path).public_key())
    # An unfiltered answer is a whole-chain range: it verifies with the public key alone.
    result = verify_records(
        [AuditRecord.from_json(record) for record in records],
        [Checkpoint.from_json(checkpoint) for checkpoint in rest["checkpoints"]],
        load_private_key(trail.key_path).public_key(),
    )
    assert result.ok and result.last_signed_seq == 40


def test_filters_narrow_the_records(client: httpx.Client) -> None:
    mine = client.get("/api/audit", params={"token_id": ROTATED.upper()}).json()["records"]
    assert [(record["kind"], record["token_id"]) for record in mine] == [
        ("token.first_use", ROTATED),
        ("lifecycle.recorded", ROTATED),
    ]
    assert mine[1]["body"]["new_token_id"] == ROTATED_TO
    opened = client.get("/api/audit", params={"kind": "finding.opened"}).json()["records"]
    assert [record["body"]["finding_kind"] for record in opened] == [
        "credential_stuffing",
        "scope_violation",
    ]
    assert client.get("/api/audit", params={"since": "1m"}).json()["records"][0]["seq"] == 1
    assert (
        client.get("/api/audit", params={"until": "2020-01-01T00:00:00Z"}).json()["records"] == []
    )
    assert client.get("/api/audit", params={"kind": "nope"}).status_code == 422
    assert client.get("/api/audit", headers={"Authorization": ""}).status_code == 401


def test_administrative_actions_are_recorded_with_their_actor(client: httpx.Client) -> None:
    registered = client.post(
        "/api/lifecycle", json={"event": "revoked", "token_id": SERVICE_TOKEN, "actor": "ops"}
    )
    assert registered.status_code == 201
    changed = client.patch("/api/anomalies/2", json={"state": "acknowledged", "actor": "sam"})
    assert changed.status_code == 200
    assert client.patch("/api/anomalies/99", json={"state": "resolved"}).status_code == 404
    latest = client.get("/api/audit", params={"offset": 40}).json()["records"]
    assert [(record["seq"], record["kind"], record["token_id"]) for record in latest] == [
        (41, "lifecycle.registered", SERVICE_TOKEN),
        (42, "finding.state_changed", ROTATED_TO),
    ]
    assert latest[0]["body"]["event"] == "revoked" and latest[0]["body"]["actor"] == "ops"
    assert latest[1]["body"] == {"finding_id": 2, "state": "acknowledged", "actor": "sam"}
    assert json.dumps(latest).count(SERVICE_TOKEN) == 1
