"""Reading the trail for the API: a page of records by filters, with the checkpoints that
cover them (``GET /api/audit``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from tokentrace_backend.storage.sql import load_sql, run

from .records import AuditRecord, records_from_rows
from .signing import Checkpoint, read_checkpoints


@dataclass(frozen=True)
class AuditFilters:
    """``token_id`` and ``kind`` exact; ``at`` in ``[since_ns, until_ns)``."""

    token_id: str | None = None
    kind: str | None = None
    since_ns: int = 0
    until_ns: int = 2**63 - 1


@dataclass(frozen=True)
class AuditPage:
    records: list[AuditRecord]
    checkpoints: list[Checkpoint]
    next_offset: int | None


def audit_page(
    cursor: duckdb.DuckDBPyConnection, filters: AuditFilters, *, limit: int, offset: int
) -> AuditPage:
    """The page's records, and the checkpoints from its first record to the first one
    at or after its last record (the one whose signature covers them all)."""
    parameters: dict[str, Any] = asdict(filters) | {"limit": limit + 1, "offset": offset}
    rows = run(cursor, load_sql("audit/listing"), parameters).fetchall()
    records = records_from_rows(rows[:limit])
    checkpoints: list[Checkpoint] = []
    if records:
        later = read_checkpoints(cursor, from_seq=records[0].seq)
        covering = [checkpoint for checkpoint in later if checkpoint.seq >= records[-1].seq]
        checkpoints = [c for c in later if c.seq < records[-1].seq] + covering[:1]
    return AuditPage(
        records=records,
        checkpoints=checkpoints,
        next_offset=offset + limit if len(rows) > limit else None,
    )
