"""``DELETE /api/tokens/{token_id}``: erase a token (audit.erase_token), recorded in the
audit trail."""

from __future__ import annotations

import time
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from tokentrace_backend.audit import erase_token
from tokentrace_backend.derived import IngestActivity
from tokentrace_backend.storage import Database

from .dependencies import Cursor, Derived
from .errors import NotFound
from .parameters import TokenId, normalise_hex

router = APIRouter(prefix="/tokens", tags=["erasure"])

# How long an erasure waits for the writer to commit what it holds (spans of the token
# acknowledged a moment ago would otherwise land after the erasure).
WRITER_WAIT_SECONDS: Final = 5.0
_POLL_SECONDS: Final = 0.02
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "nothing stored names it"}}


class NothingToErase(NotFound):
    code = "token_not_found"

    def __init__(self, token_id: str) -> None:
        super().__init__(f"nothing stored names token id {token_id}", token_id=token_id)


class ErasureOut(BaseModel):
    token_id: str
    rows: dict[str, int]
    mentions: dict[str, int]
    redacted_records: int
    audit_seq: int


@router.delete("/{token_id}", response_model=ErasureOut, responses=_NOT_FOUND)
def erase(
    request: Request,
    cursor: Cursor,
    derived: Derived,
    token_id: TokenId,
    actor: Annotated[
        str | None, Query(min_length=1, max_length=256, description="who asked for it")
    ] = None,
) -> ErasureOut:
    """Delete every stored row about the token; the audit trail keeps only hashes."""
    token = normalise_hex(token_id)
    _wait_for_writer(request.app.state.ingest_activity)
    erased = erase_token(cursor, token, actor=actor, exclusive=derived.exclusive)
    if erased is None:
        raise NothingToErase(token)
    database: Database = request.app.state.database
    database.purge_deleted(cursor)  # a lake's older snapshots still hold the rows
    return ErasureOut(
        token_id=token,
        rows=erased.rows,
        mentions=erased.mentions,
        redacted_records=erased.redacted_records,
        audit_seq=erased.record.seq,
    )


def _wait_for_writer(activity: IngestActivity | None) -> None:
    deadline = time.monotonic() + WRITER_WAIT_SECONDS
    while activity is not None and activity.idle_seconds() == 0.0:
        if time.monotonic() >= deadline:
            return
        time.sleep(_POLL_SECONDS)
