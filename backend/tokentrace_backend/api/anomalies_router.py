"""``/api/anomalies``: the detectors' findings, and changing their state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from tokentrace_backend import queries
from tokentrace_backend.audit import RecordKind, append_record, audit_transaction
from tokentrace_backend.detect import AnomalyKind, FindingState, Severity
from tokentrace_backend.detect.finding_states import change_finding_state
from tokentrace_backend.queries.findings import FindingFilters
from tokentrace_backend.queries.results import Finding, FindingPage
from tokentrace_backend.storage.conflicts import retry_on_conflict

from .dependencies import Cursor
from .errors import NotFound
from .parameters import (
    HEX_ID_32,
    TIME_HELP,
    Limit,
    Offset,
    normalise_hex,
    optional_instant_ns,
)

router = APIRouter(prefix="/anomalies", tags=["anomalies"])

FindingId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the finding's id")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no finding has this id"}}


class FindingNotFound(NotFound):
    code = "finding_not_found"

    def __init__(self, finding_id: int) -> None:
        super().__init__(f"no finding has id {finding_id}", finding_id=finding_id)


class StateChange(BaseModel):
    """The body of ``PATCH /api/anomalies/{id}``."""

    model_config = ConfigDict(extra="forbid")

    state: FindingState
    actor: str | None = Field(default=None, max_length=200, description="who changed it")


@router.get("", response_model=FindingPage)
def list_anomalies(
    *,
    cursor: Cursor,
    kind: Annotated[AnomalyKind | None, Query(description="only this kind")] = None,
    state: Annotated[FindingState | None, Query(description="only this state")] = None,
    severity: Annotated[Severity, Query(description="only this severity and above")] = Severity.LOW,
    token_id: Annotated[
        str | None, Query(pattern=HEX_ID_32, description="only this token's findings")
    ] = None,
    since: Annotated[
        str | None, Query(max_length=64, description=f"evidence after this; {TIME_HELP}")
    ] = None,
    until: Annotated[
        str | None, Query(max_length=64, description=f"evidence before this; {TIME_HELP}")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> FindingPage:
    """Findings, most recently updated first (page with ``offset``)."""
    now = datetime.now(UTC)
    filters = FindingFilters(
        kind=None if kind is None else kind.value,
        state=None if state is None else state.value,
        token_id=None if token_id is None else normalise_hex(token_id),
        min_severity=severity,
        since_ns=optional_instant_ns("since", since, now, default=FindingFilters.since_ns),
        until_ns=optional_instant_ns("until", until, now, default=FindingFilters.until_ns),
    )
    return queries.list_findings(cursor, filters, limit=limit, offset=offset)


@router.get("/{finding_id}", response_model=Finding, responses=_NOT_FOUND)
def get_anomaly(cursor: Cursor, finding_id: FindingId) -> Finding:
    """One finding."""
    finding = queries.find_finding(cursor, finding_id)
    if finding is None:
        raise FindingNotFound(finding_id)
    return finding


@router.patch("/{finding_id}", response_model=Finding, responses=_NOT_FOUND)
def change_anomaly_state(cursor: Cursor, finding_id: FindingId, change: StateChange) -> Finding:
    """Acknowledge, resolve or reopen a finding (recorded in the audit trail with it).
    Run again when it loses a write conflict (with the detectors updating findings, on this
    node or, in lake mode, on the leader)."""

    def transaction() -> Finding:
        with audit_transaction(cursor):
            if not change_finding_state(cursor, finding_id, change.state, actor=change.actor):
                raise FindingNotFound(finding_id)
            finding = get_anomaly(cursor, finding_id)
            append_record(
                cursor,
                kind=RecordKind.FINDING_STATE_CHANGED,
                token_id=finding.token_id,
                body={
                    "finding_id": finding_id,
                    "state": change.state.value,
                    "actor": change.actor,
                },
            )
        return finding

    return retry_on_conflict(transaction, what="a finding's state change")
