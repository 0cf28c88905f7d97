"""token_in_url: a token sent in the URL query string opens one finding for that token,
which later requests update (counts add up) instead of opening more; a token sent in a
header, or a refused attempt in the URL, opens none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.backend.detect.conftest import ingest
from tokentrace_backend.detect import Detection
from tokentrace_backend.scenario.incidents import HOUR_NS, Request, Traffic, export_requests
from tokentrace_backend.storage import Database

IN_HEADER = "aa" * 16
IN_URL = "bb" * 16
REFUSED_IN_URL = "cc" * 16
T0 = 1_780_000_000 * 1_000_000_000


def _requests(
    token_id: str, start_ns: int, count: int, *, source: str = "header:authorization",
    outcome: str = "success",
) -> list[Request]:  # fmt: skip
    return [
        Request(
            token_id=token_id,
            start_ns=start_ns + index * 1_000_000_000,
            endpoint="GET /orders",
            outcome=outcome,
            client_address="10.1.2.3",
            user_agent="python-httpx/0.28.1",
            source=source,
        )
        for index in range(count)
    ]


def _round(database: Database, detection: Detection, at_ns: int, url_requests: int) -> None:
    """Ordinary header traffic of every token, and ``url_requests`` of IN_URL's in the URL."""
    requests = [r for token in (IN_HEADER, IN_URL) for r in _requests(token, at_ns, 5)]
    requests += _requests(IN_URL, at_ns + 10**9 // 2, url_requests, source="query:api_key")
    requests += _requests(
        REFUSED_IN_URL, at_ns, 3, source="query:api_key", outcome="invalid"
    )  # a guessed key: refused, no credential exposed
    ingest(database, detection, export_requests(Traffic(requests=requests)))


def _findings(database: Database) -> list[dict[str, Any]]:
    with database.reader() as cursor:
        rows = cursor.execute(
            "SELECT kind, token_id, state, summary, CAST(evidence AS VARCHAR), first_ns, last_ns"
            " FROM findings ORDER BY id"
        ).fetchall()
    return [
        {
            "kind": kind, "token_id": token_id, "state": state, "summary": summary,
            "evidence": json.loads(evidence), "first_ns": first_ns, "last_ns": last_ns,
        }
        for kind, token_id, state, summary, evidence, first_ns, last_ns in rows
    ]  # fmt: skip


def _url_trace_ids(database: Database) -> set[str]:
    """The trace ids of IN_URL's requests that carried the token in the query, as stored."""
    with database.reader() as cursor:
        rows = cursor.execute(
            "SELECT lower(hex(trace_id)) FROM spans WHERE token_id = $token"
            """ AND json_extract_string(attributes, '$."tokentrace.token.source"')"""
            " = 'query:api_key'",
            {"token": IN_URL},
        ).fetchall()
    return {row[0] for row in rows}


def test_a_token_in_the_url_opens_one_finding_that_later_requests_update(
    tmp_path: Path,
) -> None:
    database = Database(tmp_path / "spans.duckdb")
    detection = Detection()

    _round(database, detection, T0, url_requests=3)
    found = _findings(database)
    assert [(f["kind"], f["token_id"]) for f in found] == [("token_in_url", IN_URL)]
    first = found[0]
    assert first["state"] == "open"
    assert first["evidence"]["counts"] == {"requests": 3}
    assert first["evidence"]["source"] == "query:api_key"
    assert first["evidence"]["sources"] == ["query:api_key"]
    assert first["summary"] == "token sent in the URL query (query:api_key) 3 time(s)"
    url_traces = _url_trace_ids(database)
    assert len(url_traces) == 3
    assert first["evidence"]["trace_ids"]
    assert set(first["evidence"]["trace_ids"]) <= url_traces

    # Later rounds update the same finding, also once it is acknowledged.
    _round(database, detection, T0 + HOUR_NS, url_requests=4)
    with database.reader() as cursor:
        cursor.execute("UPDATE findings SET state = 'acknowledged' WHERE kind = 'token_in_url'")
    _round(database, detection, T0 + 2 * HOUR_NS, url_requests=2)
    found = _findings(database)
    assert [(f["kind"], f["token_id"], f["state"]) for f in found] == [
        ("token_in_url", IN_URL, "acknowledged")
    ]
    assert found[0]["evidence"]["counts"] == {"requests": 9}
    assert found[0]["summary"] == "token sent in the URL query (query:api_key) 9 time(s)"
    assert found[0]["first_ns"] == first["first_ns"]
    assert found[0]["last_ns"] > T0 + 2 * HOUR_NS
    assert set(found[0]["evidence"]["trace_ids"]) <= _url_trace_ids(database)
    assert len(found[0]["evidence"]["trace_ids"]) == 9

    # A re-detection reads every batch again: the same one finding, the same counts.
    with database.reader() as cursor:
        assert detection.redetect(cursor) > 0
    again = _findings(database)
    assert [(f["kind"], f["token_id"], f["state"]) for f in again] == [
        ("token_in_url", IN_URL, "acknowledged")
    ]
    assert again[0]["evidence"]["counts"] == {"requests": 9}

    # Resolved, it stays resolved through a re-detection; a later exposure opens a new one.
    with database.reader() as cursor:
        cursor.execute("UPDATE findings SET state = 'resolved' WHERE kind = 'token_in_url'")
        detection.redetect(cursor)
    assert [f["state"] for f in _findings(database)] == ["resolved"]
    _round(database, detection, T0 + 30 * HOUR_NS, url_requests=1)
    found = _findings(database)
    assert [(f["token_id"], f["state"]) for f in found] == [
        (IN_URL, "resolved"),
        (IN_URL, "open"),
    ]
    assert found[1]["evidence"]["counts"] == {"requests": 1}
    database.close()
