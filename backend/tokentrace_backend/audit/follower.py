"""The audit follower: records the facts the other stages derived, and signs checkpoints.

Run by the background refresh after the detectors (``BackgroundRefresh`` ``followers``),
it reads what is new since its watermarks (``audit_state``) and appends, in one
transaction with the moved watermarks:

- ``token.first_use`` for each new ``token_dim`` row (by ``token_number``);
- ``lifecycle.recorded`` for each lifecycle event an app recorded as a span (the rows of
  ``token_lifecycle`` with ``source`` 'span'), by batch up to what the derived tables hold;
- ``token.new_network`` for each new ``new_network`` finding (the token's first use from a
  network outside its baseline) and ``finding.opened`` for every other new finding (by
  ``findings.id``).

Then, when records arrived since the last checkpoint and ``checkpoint_seconds`` passed, it
signs the chain's head (signing.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final

import duckdb
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tokentrace_backend.storage.sql import load_sql, run

from .kinds import RecordKind
from .records import append_records, audit_transaction
from .signing import Checkpoint, sign_checkpoint

logger = logging.getLogger(__name__)

DEFAULT_CHECKPOINT_SECONDS: Final = 60.0
# Facts recorded per transaction: bounds a first round over a large existing database.
ROUND_FACTS: Final = 5_000

_NEW_TOKENS = (
    "SELECT token_number, token_id, key_id, first_ns FROM token_dim"
    " WHERE token_number > $after ORDER BY token_number LIMIT $limit"
)
_DERIVED_BATCH = "SELECT last_batch_id FROM derived_state WHERE name = 'token_tables'"
_NEW_FINDING_KIND: Final = "new_network"


def _position(cursor: duckdb.DuckDBPyConnection, name: str) -> int:
    row = cursor.execute("SELECT position FROM audit_state WHERE name = ?", [name]).fetchone()
    return int(row[0]) if row else 0


def _move(cursor: duckdb.DuckDBPyConnection, name: str, position: int) -> None:
    cursor.execute("UPDATE audit_state SET position = ? WHERE name = ?", [position, name])


class AuditFollower:
    """Appends the derived facts and signs checkpoints; ``key`` None signs nothing."""

    def __init__(
        self,
        key: Ed25519PrivateKey | None = None,
        *,
        checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key
        self._checkpoint_seconds = checkpoint_seconds
        self._clock = clock
        self._last_checkpoint = float("-inf")

    def __repr__(self) -> str:
        return "AuditFollower"

    def catch_up(self, cursor: duckdb.DuckDBPyConnection) -> int:
        """Record what is new (in rounds of at most ``ROUND_FACTS``); returns the records
        appended. Signs a checkpoint when one is due."""
        appended = 0
        while True:
            with audit_transaction(cursor):
                added = self._record_round(cursor)
            appended += added
            if added < ROUND_FACTS:
                break
        if self._clock() >= self._last_checkpoint + self._checkpoint_seconds:
            self.checkpoint(cursor)
        return appended

    def checkpoint(self, cursor: duckdb.DuckDBPyConnection) -> Checkpoint | None:
        """Sign the chain's head now, when it is not signed yet (and there is a key)."""
        if self.key is None:
            return None
        with audit_transaction(cursor):
            signed = sign_checkpoint(cursor, self.key)
        self._last_checkpoint = self._clock()
        return signed

    def _record_round(self, cursor: duckdb.DuckDBPyConnection) -> int:
        added = self._record_tokens(cursor, ROUND_FACTS)
        added += self._record_lifecycle(cursor)
        added += self._record_findings(cursor, max(ROUND_FACTS - added, 1))
        return added

    def _record_tokens(self, cursor: duckdb.DuckDBPyConnection, limit: int) -> int:
        after = _position(cursor, "tokens")
        rows = run(cursor, _NEW_TOKENS, {"after": after, "limit": limit}).fetchall()
        append_records(
            cursor,
            [
                (RecordKind.TOKEN_FIRST_USE, token_id, {"first_seen_ns": first, "key_id": key_id})
                for _number, token_id, key_id, first in rows
            ],
        )
        if rows:
            _move(cursor, "tokens", int(rows[-1][0]))
        return len(rows)

    def _record_lifecycle(self, cursor: duckdb.DuckDBPyConnection) -> int:
        derived = cursor.execute(_DERIVED_BATCH).fetchone()
        to_batch = int(derived[0]) if derived else 0
        from_batch = _position(cursor, "lifecycle")
        if to_batch <= from_batch:
            return 0
        result = run(
            cursor,
            load_sql("audit/new_lifecycle_spans"),
            {"from_batch": from_batch, "to_batch": to_batch},
        )
        columns = [column[0] for column in result.description or ()]
        rows = result.fetchall()
        entries = []
        for row in rows:
            event: dict[str, Any] = dict(zip(columns, row, strict=True))
            token_id = event.pop("token_id")
            entries.append((RecordKind.LIFECYCLE_RECORDED, token_id, event | {"source": "span"}))
        append_records(cursor, entries)
        _move(cursor, "lifecycle", to_batch)
        return len(rows)

    def _record_findings(self, cursor: duckdb.DuckDBPyConnection, limit: int) -> int:
        after = _position(cursor, "findings")
        rows = run(
            cursor, load_sql("audit/new_findings"), {"after": after, "limit": limit}
        ).fetchall()
        entries = []
        for finding_id, kind, token_id, address, subject, severity, summary in rows:
            body = {
                "finding_id": finding_id,
                "finding_kind": kind,
                "severity": severity,
                "subject": subject,
                "summary": summary,
                "client_address": address,
            }
            record_kind = (
                RecordKind.TOKEN_NEW_NETWORK
                if kind == _NEW_FINDING_KIND
                else RecordKind.FINDING_OPENED
            )
            entries.append((record_kind, token_id, body))
        append_records(cursor, entries)
        if rows:
            _move(cursor, "findings", int(rows[-1][0]))
        return len(rows)
