"""Every anomaly kind is found on the token (or address) it was injected on, and nothing
is found anywhere else: not on clean tokens, not of another kind on an incident's token."""

from __future__ import annotations

import json

import pytest

from tests.backend.detect.conftest import Detected
from tokentrace_backend.detect import AnomalyKind


def findings(detected: Detected) -> list[dict[str, object]]:
    with detected.database.reader() as cursor:
        cursor.execute(
            "SELECT kind, token_id, client_address, subject, severity, state, summary,"
            " CAST(baseline AS VARCHAR), CAST(evidence AS VARCHAR), first_ns, last_ns"
            " FROM findings ORDER BY id"
        )
        names = [column[0] for column in cursor.description or []]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["baseline"] = json.loads(str(row.pop("CAST(baseline AS VARCHAR)")))
        row["evidence"] = json.loads(str(row.pop("CAST(evidence AS VARCHAR)")))
    return rows


@pytest.mark.parametrize("kind", list(AnomalyKind), ids=str)
def test_each_injected_incident_is_found(detected: Detected, kind: AnomalyKind) -> None:
    incident = next(item for item in detected.traffic.incidents if item.kind is kind)
    found = [row for row in findings(detected) if row["kind"] == kind.value]
    assert len(found) == 1, found
    finding = found[0]
    if incident.token_id is not None:
        assert finding["token_id"] == incident.token_id
    else:
        assert finding["client_address"] == incident.client_address
    assert incident.start_ns - 3_600_000_000_000 <= int(finding["first_ns"]) <= incident.end_ns
    evidence = finding["evidence"]
    assert isinstance(evidence, dict)
    assert evidence["trace_ids"], "a finding names the traces it saw"
    assert all(len(trace_id) == 32 for trace_id in evidence["trace_ids"])
    assert finding["summary"]
    assert finding["baseline"]
    assert finding["state"] == "open"


def test_nothing_is_found_beyond_the_incidents(detected: Detected) -> None:
    expected = {
        (
            incident.kind.value,
            incident.token_id,
            incident.client_address if incident.token_id is None else None,
        )
        for incident in detected.traffic.incidents
    }
    found = {
        (row["kind"], row["token_id"], row["client_address"] if row["token_id"] is None else None)
        for row in findings(detected)
    }
    assert found == expected
    tokens = {row["token_id"] for row in findings(detected)}
    assert not tokens & set(detected.clean_tokens)


def test_a_redetection_finds_the_same_and_keeps_what_users_decided(detected: Detected) -> None:
    before = {(row["kind"], row["token_id"], row["client_address"]) for row in findings(detected)}
    with detected.database.reader() as cursor:
        cursor.execute("UPDATE findings SET state = 'resolved' WHERE kind = 'burst'")
        cursor.execute("UPDATE findings SET state = 'acknowledged' WHERE kind = 'new_network'")
        counted = cursor.execute("SELECT count(*) FROM findings").fetchone()
        read = detected.detection.redetect(cursor)
        assert read > 0
        again = cursor.execute("SELECT count(*) FROM findings").fetchone()
        states = dict(cursor.execute("SELECT kind, state FROM findings").fetchall())
    after = {(row["kind"], row["token_id"], row["client_address"]) for row in findings(detected)}
    assert after == before
    assert again == counted, "a resolved finding is not reopened by the same evidence"
    assert states["burst"] == "resolved"
    assert states["new_network"] == "acknowledged"
