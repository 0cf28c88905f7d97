"""``GET /api/audit``: the audit trail's records with their chain hashes and the signed
checkpoints that cover them (docs/audit.md tells how to verify them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from tokentrace_backend.audit import AuditFollower, RecordKind, public_key_hex
from tokentrace_backend.audit.listing import AuditFilters, audit_page

from .dependencies import Cursor
from .parameters import (
    HEX_ID_32,
    TIME_HELP,
    Limit,
    Offset,
    normalise_hex,
    optional_instant_ns,
)

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditRecordOut(BaseModel):
    seq: int
    at: int
    kind: str
    token_id: str | None
    body: Any
    prev_hash: str
    hash: str


class CheckpointOut(BaseModel):
    seq: int
    hash: str
    at: int
    public_key: str
    signature: str


class AuditRecordPage(BaseModel):
    public_key: str | None
    records: list[AuditRecordOut]
    checkpoints: list[CheckpointOut]
    next_offset: int | None


@router.get("", response_model=AuditRecordPage)
def list_audit_records(
    *,
    request: Request,
    cursor: Cursor,
    token_id: Annotated[
        str | None, Query(pattern=HEX_ID_32, description="only records about this token")
    ] = None,
    kind: Annotated[RecordKind | None, Query(description="only this kind")] = None,
    since: Annotated[
        str | None, Query(max_length=64, description=f"recorded at or after; {TIME_HELP}")
    ] = None,
    until: Annotated[
        str | None, Query(max_length=64, description=f"recorded before; {TIME_HELP}")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> AuditRecordPage:
    """Records by seq (page with ``offset``), and the checkpoints covering the page."""
    now = datetime.now(UTC)
    filters = AuditFilters(
        token_id=None if token_id is None else normalise_hex(token_id),
        kind=None if kind is None else kind.value,
        since_ns=optional_instant_ns("since", since, now, default=AuditFilters.since_ns),
        until_ns=optional_instant_ns("until", until, now, default=AuditFilters.until_ns),
    )
    page = audit_page(cursor, filters, limit=limit, offset=offset)
    follower: AuditFollower = request.app.state.audit
    key = None if follower.key is None else public_key_hex(follower.key.public_key())
    return AuditRecordPage(
        public_key=key,
        records=[AuditRecordOut(**record.as_json()) for record in page.records],
        checkpoints=[CheckpointOut(**checkpoint.as_json()) for checkpoint in page.checkpoints],
        next_offset=page.next_offset,
    )
