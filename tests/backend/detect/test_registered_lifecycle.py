"""A revocation or expiry registered over the API (POST /api/lifecycle), for an issuer
that runs no tokentrace, is what use_after_revocation and use_after_expiry judge by."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.backend.detect.conftest import ingest
from tests.loopback import serve_asgi
from tokentrace_backend.api import create_api_app
from tokentrace_backend.detect import Detection
from tokentrace_backend.scenario.incidents import HOUR_NS, Request, Traffic, export_requests
from tokentrace_backend.storage import Database

REVOKED = "aa" * 16
EXPIRED = "bb" * 16
UNTOUCHED = "cc" * 16
T0 = 1_780_000_000 * 1_000_000_000


def _requests(token_id: str, start_ns: int, count: int) -> list[Request]:
    return [
        Request(
            token_id=token_id,
            start_ns=start_ns + index * 1_000_000_000,
            endpoint="GET /orders",
            outcome="success",
            client_address="10.1.2.3",
            user_agent="python-httpx/0.28.1",
        )
        for index in range(count)
    ]


def test_registered_revocation_and_expiry_are_judged(tmp_path: Path) -> None:
    database = Database(tmp_path / "spans.duckdb")
    detection = Detection()
    tokens = (REVOKED, EXPIRED, UNTOUCHED)
    before = Traffic(requests=[r for token in tokens for r in _requests(token, T0, 5)])
    ingest(database, detection, export_requests(before))
    app = create_api_app(database, api_key="")
    with serve_asgi(app, lifespan="off") as url, httpx.Client(base_url=url) as client:
        at = (T0 + HOUR_NS) // 1_000_000_000
        for event, token in (("revoked", REVOKED), ("expired", EXPIRED)):
            answer = client.post(
                "/api/lifecycle", json={"event": event, "token_id": token, "at": at}
            )
            assert answer.status_code == 201, answer.text
        after = Traffic(
            requests=[r for token in tokens for r in _requests(token, T0 + 2 * HOUR_NS, 4)]
        )
        ingest(database, detection, export_requests(after))
        found = {
            (finding["kind"], finding["token_id"])
            for finding in client.get("/api/anomalies").json()["findings"]
        }
    database.close()
    assert found == {("use_after_revocation", REVOKED), ("use_after_expiry", EXPIRED)}
