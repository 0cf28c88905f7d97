"""The audit records and their hash chain: the canonical encoding, appending, reading.

A record is ``{seq, at, kind, token_id, body, prev_hash, hash}``. Its hash is the SHA-256
(lowercase hex) of the UTF-8 bytes of this JSON text, with sorted keys and no whitespace::

    {"at":AT,"body":H(body),"kind":KIND,"prev_hash":PREV,"seq":SEQ,"token_id":H(token_id)}

where ``H(field)`` is the SHA-256 hex of the field's UTF-8 text (``token_id`` as stored,
``body`` as its canonical JSON text), ``null`` for a missing token id, and simply the hex
after ``redacted:`` for a field an erasure replaced. Committing to the fields' digests
rather than to the fields is what lets an erasure drop a token id and a body and keep the
chain verifiable. ``prev_hash`` of the first record is 64 zeros.

A body is a JSON object of strings, integers, booleans, nulls, lists and objects (no
floats: their text is not canonical), encoded with sorted keys, no whitespace and UTF-8
(``ensure_ascii`` off). Raw tokens never go into a record, only token ids.

Appends are serialised by :data:`APPEND_LOCK`: take it, with the transaction that does the
audited action, through :func:`audit_transaction`. One process holds a database file; the
nodes of a lake share the lock through PostgreSQL (the server binds it, ``storage.cluster``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Final

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from tokentrace_backend.storage.cluster import ClusterLock

GENESIS_HASH: Final = "0" * 64
REDACTED_PREFIX: Final = "redacted:"

APPEND_LOCK: Final = ClusterLock("audit-append")
"""Serialises appends (each reads the chain's head). Taken before ``DerivedTables.exclusive``
wherever both are held."""


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, non-ASCII kept (the bytes hashed are its UTF-8)."""
    _reject_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _reject_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("audit bodies hold no floats (their text is not canonical)")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("audit body keys are strings")
            _reject_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_floats(item)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def redacted(text: str) -> str:
    """What an erasure leaves of a field: ``redacted:<sha256 hex of it>`` (idempotent)."""
    return text if is_redacted(text) else REDACTED_PREFIX + sha256_hex(text)


def is_redacted(text: str) -> bool:
    return text.startswith(REDACTED_PREFIX)


def field_digest(text: str | None) -> str | None:
    """``H(field)`` of the record hash: the digest a redacted field keeps, else its hash."""
    if text is None:
        return None
    return text[len(REDACTED_PREFIX) :] if is_redacted(text) else sha256_hex(text)


def record_hash(
    *, seq: int, at: int, kind: str, token_id: str | None, body: str, prev_hash: str
) -> str:
    """The hash of a record (``body`` as stored: canonical JSON text, or redacted)."""
    encoded = canonical_json(
        {
            "seq": seq,
            "at": at,
            "kind": kind,
            "token_id": field_digest(token_id),
            "body": field_digest(body),
            "prev_hash": prev_hash,
        }
    )
    return sha256_hex(encoded)


@dataclass(frozen=True)
class AuditRecord:
    """One stored record; ``body`` is the stored text (canonical JSON, or redacted)."""

    seq: int
    at: int
    kind: str
    token_id: str | None
    body: str
    prev_hash: str
    hash: str

    def expected_hash(self) -> str:
        return record_hash(
            seq=self.seq,
            at=self.at,
            kind=self.kind,
            token_id=self.token_id,
            body=self.body,
            prev_hash=self.prev_hash,
        )

    def body_value(self) -> Any:
        """The body as JSON data; a redacted body stays its ``redacted:`` text."""
        return self.body if is_redacted(self.body) else json.loads(self.body)

    def as_json(self) -> dict[str, Any]:
        """The record as exported and answered by the API (``body`` as JSON data)."""
        return {
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "token_id": self.token_id,
            "body": self.body_value(),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditRecord:
        """The inverse of :meth:`as_json` (the body re-encoded canonically)."""
        body = data["body"]
        return cls(
            seq=int(data["seq"]),
            at=int(data["at"]),
            kind=str(data["kind"]),
            token_id=None if data.get("token_id") is None else str(data["token_id"]),
            body=body if isinstance(body, str) else canonical_json(body),
            prev_hash=str(data["prev_hash"]),
            hash=str(data["hash"]),
        )


def chain_head(cursor: duckdb.DuckDBPyConnection) -> tuple[int, str]:
    """The last record's ``(seq, hash)``; ``(0, GENESIS_HASH)`` for an empty trail."""
    rows = cursor.execute(
        "SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1"
    ).fetchall()
    return (0, GENESIS_HASH) if not rows else (int(rows[0][0]), str(rows[0][1]))


def append_record(
    cursor: duckdb.DuckDBPyConnection,
    *,
    kind: str,
    token_id: str | None,
    body: Mapping[str, Any],
    at: int | None = None,
) -> AuditRecord:
    """Append one record to the chain, within the caller's transaction.

    Hold :data:`APPEND_LOCK` until that transaction ends (:func:`audit_transaction` does
    both); ``at`` defaults to now (unix ns).
    """
    return append_records(cursor, [(kind, token_id, body)], at=at)[0]


def append_records(
    cursor: duckdb.DuckDBPyConnection,
    entries: Sequence[tuple[str, str | None, Mapping[str, Any]]],
    *,
    at: int | None = None,
) -> list[AuditRecord]:
    """Append ``(kind, token_id, body)`` entries in order, in one insert (the head is read
    once: the follower records thousands at a time). Same rules as :func:`append_record`."""
    seq, prev_hash = chain_head(cursor)
    stamp = time.time_ns() if at is None else at
    records = []
    for kind, token_id, body in entries:
        seq += 1
        record_body = canonical_json(dict(body))
        digest = record_hash(
            seq=seq,
            at=stamp,
            kind=kind,
            token_id=token_id,
            body=record_body,
            prev_hash=prev_hash,
        )
        records.append(AuditRecord(seq, stamp, str(kind), token_id, record_body, prev_hash, digest))
        prev_hash = digest
    if records:
        table = pa.Table.from_pylist([asdict(record) for record in records], schema=_STORED_SCHEMA)
        cursor.register("audit_appended", table)
        try:
            cursor.execute("INSERT INTO audit_records SELECT * FROM audit_appended")
        finally:
            cursor.unregister("audit_appended")
    return records


_STORED_SCHEMA: Final = pa.schema(
    [
        ("seq", pa.uint64()),
        ("at", pa.int64()),
        ("kind", pa.string()),
        ("token_id", pa.string()),
        ("body", pa.string()),
        ("prev_hash", pa.string()),
        ("hash", pa.string()),
    ]
)
"""The columns of ``audit_records`` in their order (``at`` is ``at_ns``)."""


@contextmanager
def audit_transaction(cursor: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction, holding :data:`APPEND_LOCK`: the audited action and its records
    commit together or not at all."""
    with APPEND_LOCK:
        cursor.execute("BEGIN TRANSACTION")
        try:
            yield
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise


def records_from_rows(rows: list[tuple[Any, ...]]) -> list[AuditRecord]:
    return [
        AuditRecord(
            seq=int(seq),
            at=int(at),
            kind=kind,
            token_id=token_id,
            body=body,
            prev_hash=prev_hash,
            hash=digest,
        )
        for seq, at, kind, token_id, body, prev_hash, digest in rows
    ]
