"""Erasing a token: every stored row about it goes, and the audit trail keeps only hashes.

:data:`TOKEN_ROWS` is the one list of the rows that belong to a token, table by table, in
the order they are deleted (a table that adds per-token rows, a roll-up say, adds its entry
here). After those deletions, every remaining mention of the token id in any text or JSON
column of any other table (another token's lifecycle event naming it as ``new_token_id``,
a span attribute) is replaced by ``redacted:<sha256 hex of the id>``. In the audit trail,
the records about the token have their ``token_id`` and ``body`` replaced by their own
``redacted:`` digests, as does the body of any other record that names it: the record
hashes commit to those digests (records.py), so the chain still verifies. The erasure is
itself a record, ``token.erased``, whose ``token_id`` is the redacted digest.

Everything happens in one transaction, under ``APPEND_LOCK`` and, on a live server, with
the derived tables' refresh held off (``exclusive``). It updates the state rows of the
stages that write per-token rows (``_FENCES``), so a transaction of theirs in flight and
the erasure conflict: the loser runs again, and the erasure retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Final

import duckdb

from .kinds import RecordKind
from .records import (
    APPEND_LOCK,
    AuditRecord,
    append_record,
    audit_transaction,
    redacted,
    sha256_hex,
)


@dataclass(frozen=True)
class TokenRows:
    """The rows of ``table`` that belong to a token: ``condition`` names ``$token_id``."""

    table: str
    condition: str


_TOKEN_NUMBER: Final = (
    "token_number = (SELECT token_number FROM token_dim WHERE token_id = $token_id)"  # noqa: S105
)

TOKEN_ROWS: tuple[TokenRows, ...] = (
    # Its spans, and the spans of the traces no other token tagged (the services below it).
    TokenRows(
        "spans",
        "token_id = $token_id OR (token_id IS NULL"
        " AND trace_id IN (SELECT trace_id FROM spans WHERE token_id = $token_id)"
        " AND trace_id NOT IN (SELECT trace_id FROM spans"
        " WHERE token_id IS NOT NULL AND token_id <> $token_id))",
    ),
    TokenRows("link_spans", "token_id = $token_id OR linked_token_id = $token_id"),
    TokenRows("token_requests", _TOKEN_NUMBER),
    TokenRows("token_calls", _TOKEN_NUMBER),
    TokenRows("token_failures", _TOKEN_NUMBER),
    # The daily roll-ups retention keeps after the spans expire (migration 500).
    TokenRows("token_request_days", _TOKEN_NUMBER),
    TokenRows("token_call_days", _TOKEN_NUMBER),
    TokenRows("token_failure_days", _TOKEN_NUMBER),
    TokenRows("token_dim", "token_id = $token_id"),
    TokenRows("token_lifecycle", "token_id = $token_id"),
    TokenRows("token_hours", "token_id = $token_id"),
    TokenRows("token_clients", "token_id = $token_id"),
    TokenRows("token_endpoints", "token_id = $token_id"),
    TokenRows("address_failures", "token_id = $token_id"),
    TokenRows(
        "alert_deliveries",
        "source = 'finding' AND source_id IN (SELECT id FROM findings WHERE token_id = $token_id)"
        " OR source = 'lifecycle'"
        " AND source_id IN (SELECT id FROM alert_lifecycle WHERE token_id = $token_id)",
    ),
    TokenRows("findings", "token_id = $token_id"),
    TokenRows("alert_lifecycle", "token_id = $token_id"),
)
"""The per-token rows, in deletion order (rows keyed by ``token_number`` before ``token_dim``)."""

AUDIT_TABLES: Final = ("audit_records", "audit_checkpoints", "audit_state")
_UNTOUCHED: Final = (*AUDIT_TABLES, "schema_version")
_RETRIES: Final = 5
_TEXT_COLUMNS: Final = (
    "SELECT table_name, column_name FROM duckdb_columns()"
    " WHERE database_name = current_database() AND schema_name = 'main'"
    " AND NOT internal AND data_type IN ('VARCHAR', 'JSON')"
    " ORDER BY table_name, column_index"
)


@dataclass(frozen=True)
class Erasure:
    """What an erasure removed: rows per table, mentions replaced per ``table.column``,
    audit records redacted, and the ``token.erased`` record."""

    rows: dict[str, int]
    mentions: dict[str, int]
    redacted_records: int
    record: AuditRecord


def erase_token(
    cursor: duckdb.DuckDBPyConnection,
    token_id: str,
    *,
    actor: str | None = None,
    exclusive: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> Erasure | None:
    """Erase ``token_id`` (lowercase hex); None when nothing stored names it.

    ``exclusive`` holds off the other writers of the derived tables (a live server passes
    ``DerivedTables.exclusive``)."""
    for attempt in range(_RETRIES):
        try:
            with APPEND_LOCK, exclusive(), audit_transaction(cursor):
                return _erase(cursor, token_id, actor)
        except duckdb.TransactionException:
            if attempt == _RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _count(cursor: duckdb.DuckDBPyConnection, sql: str, parameters: dict[str, Any]) -> int:
    row = cursor.execute(sql, parameters).fetchone()
    return int(row[0]) if row else 0


# Each stage that writes per-token rows updates its state row in the transaction that
# writes them. Touching those rows here makes any such transaction in flight (it may have
# read the token's rows before this erasure began) conflict with the erasure: one of the
# two runs again after the other committed, so nothing erased comes back. Within a process
# ``exclusive`` holds the refresh off already; the fences also cover the detectors, the
# retention job and the alert dispatcher, and in lake mode the leader's, on another node
# (a DuckLake has no keys whose violation would catch a re-inserted row).
_FENCES: Final = (
    "UPDATE derived_state SET last_batch_id = last_batch_id",
    "UPDATE detect_state SET last_batch_id = last_batch_id",
    "UPDATE retention_state SET runs = runs",
    "UPDATE alert_state SET last_updated_ns = last_updated_ns",
)


def _erase(cursor: duckdb.DuckDBPyConnection, token_id: str, actor: str | None) -> Erasure | None:
    for fence in _FENCES:
        cursor.execute(fence)
    named = {"token_id": token_id}
    rows: dict[str, int] = {}
    for entry in TOKEN_ROWS:  # DELETE and UPDATE answer the number of rows they changed
        count = _count(
            cursor,
            f'DELETE FROM "{entry.table}" WHERE {entry.condition}',  # noqa: S608 (registry)
            named,
        )
        if count:
            rows[entry.table] = count
    marker = redacted(token_id)
    mentions: dict[str, int] = {}
    for table, column in cursor.execute(_TEXT_COLUMNS).fetchall():
        if table in _UNTOUCHED:
            continue
        count = _count(  # names from the catalog, the id a parameter
            cursor,
            f'UPDATE "{table}" SET "{column}" = replace(CAST("{column}" AS VARCHAR),'  # noqa: S608
            f' $token_id, $marker) WHERE contains(CAST("{column}" AS VARCHAR), $token_id)',
            named | {"marker": marker},
        )
        if count:
            mentions[f"{table}.{column}"] = count
    redactions = _redact_records(cursor, token_id)
    if not rows and not mentions and not redactions:
        return None
    # Token numbers are max + 1: a later token may take the erased one's, so look again.
    cursor.execute(
        "UPDATE audit_state SET position = least(position,"
        " (SELECT coalesce(max(token_number), 0) FROM token_dim)) WHERE name = 'tokens'"
    )
    record = append_record(
        cursor,
        kind=RecordKind.TOKEN_ERASED,
        token_id=marker,
        body={
            "token_sha256": sha256_hex(token_id),
            "rows": rows,
            "mentions": mentions,
            "redacted_records": redactions,
            "actor": actor,
        },
    )
    return Erasure(rows=rows, mentions=mentions, redacted_records=redactions, record=record)


def _redact_records(cursor: duckdb.DuckDBPyConnection, token_id: str) -> int:
    """Replace what the trail holds of ``token_id`` by digests; returns the records changed."""
    found = cursor.execute(
        "SELECT seq, token_id, body FROM audit_records"
        " WHERE token_id = $token_id OR contains(body, $token_id)",
        {"token_id": token_id},
    ).fetchall()
    for seq, stored_token, body in found:
        cursor.execute(
            "UPDATE audit_records SET token_id = $token, body = $body WHERE seq = $seq",
            {
                "token": redacted(stored_token) if stored_token == token_id else stored_token,
                "body": redacted(body),
                "seq": seq,
            },
        )
    return len(found)
