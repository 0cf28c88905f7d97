"""The record format: what the follower records, and hashes a third party recomputes from
the documented encoding alone (hashlib and json here, not the backend's code)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb

from tests.backend.audit.stored_trail import StoredTrail
from tests.backend.scenario import HEALTHY, ROTATED, ROTATED_TO
from tokentrace_backend.audit import AuditFollower, load_public_key, verify_database
from tokentrace_backend.audit.records import redacted
from tokentrace_backend.storage import Database


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _digest(field: str | None) -> str | None:
    if field is None:
        return None
    return field.removeprefix("redacted:") if field.startswith("redacted:") else _sha(field)


def _third_party_hash(seq: int, at: int, kind: str, token: str | None, body: str, prev: str) -> str:
    encoded = json.dumps(
        {
            "seq": seq,
            "at": at,
            "kind": kind,
            "token_id": _digest(token),
            "body": _digest(body),
            "prev_hash": prev,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return _sha(encoded)


def test_the_follower_records_first_uses_lifecycle_spans_and_findings(trail: StoredTrail) -> None:
    with duckdb.connect(str(trail.db_path)) as connection:
        rows = connection.execute(
            "SELECT kind, token_id, body FROM audit_records ORDER BY seq"
        ).fetchall()
    first_uses = [token for kind, token, _ in rows if kind == "token.first_use"]
    assert len(first_uses) == len(set(first_uses)) == 7 + 30
    assert {HEALTHY, ROTATED, ROTATED_TO} <= set(first_uses)
    [(token, body)] = [(token, body) for kind, token, body in rows if kind == "lifecycle.recorded"]
    assert token == ROTATED
    assert json.loads(body) | {"at_ns": 0, "trace_id": ""} == {
        "event": "rotated",
        "new_token_id": ROTATED_TO,
        "actor": "ops",
        "at_ns": 0,
        "expires_ns": None,
        "trace_id": "",
        "source": "span",
    }
    opened = [(token, json.loads(body)) for kind, token, body in rows if kind == "finding.opened"]
    assert [(token, body["finding_kind"]) for token, body in opened] == [
        (None, "credential_stuffing"),
        (ROTATED_TO, "scope_violation"),
    ]


def test_every_hash_is_recomputed_from_the_documented_encoding(trail: StoredTrail) -> None:
    with duckdb.connect(str(trail.db_path)) as connection:
        rows = connection.execute(
            "SELECT seq, at_ns, kind, token_id, body, prev_hash, hash FROM audit_records"
            " ORDER BY seq"
        ).fetchall()
    previous = "0" * 64
    for seq, at, kind, token, body, prev, digest in rows:
        assert prev == previous
        assert _third_party_hash(seq, at, kind, token, body, prev) == digest
        assert body == json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        previous = digest


def test_a_redacted_field_keeps_its_record_verifiable(trail: StoredTrail) -> None:
    with duckdb.connect(str(trail.db_path)) as connection:
        connection.execute(
            "UPDATE audit_records SET token_id = ?, body = ? WHERE seq = 8",
            [redacted(ROTATED), redacted(_body_of(connection, 8))],
        )
    database = Database(trail.db_path)
    try:
        with database.reader() as cursor:
            result = verify_database(cursor, load_public_key(trail.key_path))
    finally:
        database.close()
    assert result.ok, result.problem


def _body_of(connection: duckdb.DuckDBPyConnection, seq: int) -> str:
    row = connection.execute("SELECT body FROM audit_records WHERE seq = ?", [seq]).fetchone()
    assert row is not None
    return str(row[0])


def test_a_new_network_finding_is_recorded_as_the_tokens_first_use_from_it(
    tmp_path: Path,
) -> None:
    database = Database(tmp_path / "network.duckdb")
    try:
        with database.reader() as cursor:
            cursor.execute(
                "INSERT INTO findings (kind, token_id, client_address, subject, severity,"
                " summary, baseline, evidence, first_ns, last_ns, detected_at_ns, updated_at_ns)"
                " VALUES ('new_network', ?, '203.0.113.9', '203.0.113.0/24', 'medium',"
                " 'first request from 203.0.113.0/24', '{}', '{}', 1, 1, 1, 1)",
                [HEALTHY],
            )
            assert AuditFollower().catch_up(cursor) == 1
            assert AuditFollower().catch_up(cursor) == 0  # the watermark moved
            row = cursor.execute("SELECT kind, token_id, body FROM audit_records").fetchone()
    finally:
        database.close()
    assert row is not None
    assert (row[0], row[1]) == ("token.new_network", HEALTHY)
    assert json.loads(row[2])["subject"] == "203.0.113.0/24"
