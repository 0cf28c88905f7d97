"""The findings as the dispatcher sees them: read from ``findings`` (migration 200, written
by the detectors), with the owner of their token from ``token_dim``. Alerting only reads
this table.

The dispatcher matches rules on a finding's facts (:class:`FindingFacts`): those of the new
findings, and those of the findings the detectors updated lately (a severity that rose can
make a rule match that did not before); the sender reads the whole :class:`Finding` when it
posts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from tokentrace_backend.detect.kinds import Severity
from tokentrace_backend.storage.sql import load_sql, run

# Updates are re-read this far behind the newest one seen: the detectors and the API stamp
# updated_at_ns from different threads, so one may commit a little after a later stamp.
UPDATE_LOOKBACK_NS = 10 * 1_000_000_000


def severity_rank(severity: str) -> int:
    """The rank of a severity (``Severity.rank``). One the vocabulary does not name ranks
    highest: an alert too many beats an incident nobody hears of."""
    try:
        return Severity(severity).rank
    except ValueError:
        return len(Severity)


@dataclass(frozen=True)
class FindingFacts:
    """What a rule matches on, and where the finding stands in the dispatcher's marks."""

    id: int
    kind: str
    token_id: str | None
    owner: str | None
    severity: str
    updated_at_ns: int

    @property
    def severity_rank(self) -> int:
        return severity_rank(self.severity)


@dataclass(frozen=True)
class Finding:
    """One row of ``findings`` and its token's owner (``None`` when unknown)."""

    id: int
    kind: str
    token_id: str | None
    owner: str | None
    client_address: str | None
    subject: str
    severity: str
    state: str
    summary: str
    baseline: Any
    evidence: Any
    first_ns: int
    last_ns: int
    detected_at_ns: int
    updated_at_ns: int

    @property
    def severity_rank(self) -> int:
        return severity_rank(self.severity)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Finding:
        """From the finding's columns of ``alerts/pending_deliveries.sql``, in its order."""
        (id_, kind, token_id, owner, address, subject, severity, state, summary) = row[:9]
        baseline, evidence, first_ns, last_ns, detected_at_ns, updated_at_ns = row[9:15]
        return cls(
            id=int(id_),
            kind=kind,
            token_id=token_id,
            owner=owner,
            client_address=address,
            subject=subject,
            severity=severity,
            state=state,
            summary=summary,
            baseline=_json(baseline),
            evidence=_json(evidence),
            first_ns=int(first_ns),
            last_ns=int(last_ns),
            detected_at_ns=int(detected_at_ns),
            updated_at_ns=int(updated_at_ns),
        )


FINDING_COLUMNS = 15  # the finding's columns in the rows of pending_deliveries.sql


def new_findings(
    cursor: duckdb.DuckDBPyConnection, after_id: int, limit: int
) -> list[FindingFacts]:
    """The findings with an id above ``after_id``, oldest first, at most ``limit``."""
    rows = run(cursor, load_sql("alerts/new_findings"), {"after_id": after_id, "limit": limit})
    return [_facts(row) for row in rows.fetchall()]


def updated_findings(
    cursor: duckdb.DuckDBPyConnection, through_id: int, updated_after_ns: int
) -> list[FindingFacts]:
    """The findings up to ``through_id``, not resolved, updated after ``updated_after_ns``
    less :data:`UPDATE_LOOKBACK_NS`."""
    parameters = {
        "through_id": through_id,
        "updated_after_ns": updated_after_ns - UPDATE_LOOKBACK_NS,
    }
    rows = run(cursor, load_sql("alerts/updated_findings"), parameters)
    return [_facts(row) for row in rows.fetchall()]


def _facts(row: Sequence[Any]) -> FindingFacts:
    id_, kind, token_id, owner, severity, updated_at_ns = row
    return FindingFacts(int(id_), kind, token_id, owner, severity, int(updated_at_ns))


def _json(value: Any) -> Any:
    """DuckDB hands JSON columns over as text."""
    return json.loads(value) if isinstance(value, str) else value
