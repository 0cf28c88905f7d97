"""``findings``: what the detectors found, filtered and paged, and one finding by id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb

from tokentrace_backend.detect.kinds import Severity
from tokentrace_backend.storage.sql import load_sql, run

from .results import Finding, FindingPage
from .timestamps import datetime_from_ns, optional_datetime_from_ns

_EVERYTHING = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class FindingFilters:
    """Which findings to list; None matches everything. Times bound the evidence (event
    time): a finding matches when its evidence overlaps [since_ns, until_ns)."""

    kind: str | None = None
    state: str | None = None
    token_id: str | None = None
    client_address: str | None = None
    min_severity: Severity = Severity.LOW
    since_ns: int = _EVERYTHING[0]
    until_ns: int = _EVERYTHING[1]

    def parameters(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "state": self.state,
            "token_id": self.token_id,
            "client_address": self.client_address,
            "min_severity_rank": self.min_severity.rank + 1,
            "since_ns": self.since_ns,
            "until_ns": self.until_ns,
        }


def list_findings(
    cursor: duckdb.DuckDBPyConnection, filters: FindingFilters, *, limit: int, offset: int
) -> FindingPage:
    """One page of findings, most recently updated first."""
    parameters = filters.parameters() | {"finding_id": None, "limit": limit + 1, "offset": offset}
    rows = run(cursor, load_sql("queries/findings"), parameters).fetchall()
    return FindingPage(
        findings=[_finding(row) for row in rows[:limit]],
        next_offset=offset + limit if len(rows) > limit else None,
    )


def find_finding(cursor: duckdb.DuckDBPyConnection, finding_id: int) -> Finding | None:
    parameters = FindingFilters().parameters() | {
        "finding_id": finding_id,
        "limit": 1,
        "offset": 0,
    }
    row = run(cursor, load_sql("queries/findings"), parameters).fetchone()
    return None if row is None else _finding(row)


def _finding(row: tuple[Any, ...]) -> Finding:
    (
        finding_id, kind, token_id, client_address, subject, severity, state, summary,
        baseline, evidence, first_ns, last_ns, detected_at_ns, updated_at_ns, changed_by,
    ) = row  # fmt: skip
    return Finding(
        id=finding_id,
        kind=kind,
        token_id=token_id,
        client_address=client_address,
        subject=subject,
        severity=severity,
        state=state,
        summary=summary,
        baseline=json.loads(baseline),
        evidence=json.loads(evidence),
        first_seen=datetime_from_ns(first_ns),
        last_seen=datetime_from_ns(last_ns),
        detected_at=datetime_from_ns(detected_at_ns),
        updated_at=optional_datetime_from_ns(updated_at_ns) or datetime_from_ns(detected_at_ns),
        state_changed_by=changed_by,
    )
