"""Verifying a trail: every record's hash and link, and every checkpoint's signature.

The same rules hold for the database and for an export (a whole-chain range of records
``[from_seq, to_seq]`` with the checkpoints inside it):

- the records' ``seq`` run on without a gap from the first (1 for the database);
- each ``prev_hash`` is the previous record's ``hash`` (the first record of an export that
  starts after seq 1 is the range's anchor: its ``prev_hash`` is taken as given);
- each ``hash`` is recomputed from the record's fields (records.py);
- each checkpoint is signed by the public key, and the record it names is present with
  the hash it names.

What a signed checkpoint proves is that every record up to it is as it was signed. Records
after the last checkpoint are checked as a chain, but nothing signed covers them yet: one who
can write the file could rewrite them consistently. The server signs every
``TOKENTRACE_AUDIT_CHECKPOINT_SECONDS`` while records arrive and when it stops.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import duckdb
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .records import GENESIS_HASH, AuditRecord, records_from_rows
from .signing import Checkpoint, read_checkpoints

_READ_ROWS = 10_000


@dataclass(frozen=True)
class Verification:
    """What verifying found: ``problem`` names the first bad record or checkpoint."""

    records: int
    checkpoints: int
    first_seq: int | None
    last_seq: int | None
    last_signed_seq: int | None
    problem: str | None = None
    bad_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        if self.problem is not None:
            return f"audit trail NOT verified: {self.problem}"
        if self.records == 0:
            return "audit trail verified: no records yet"
        unsigned = (self.last_seq or 0) - (self.last_signed_seq or (self.first_seq or 1) - 1)
        text = (
            f"audit trail verified: records {self.first_seq}-{self.last_seq}, "
            f"{self.checkpoints} signed checkpoint{'s' if self.checkpoints != 1 else ''}"
        )
        if self.last_signed_seq is not None:
            text += f", the last at seq {self.last_signed_seq}"
        if unsigned:
            plural = "s are" if unsigned != 1 else " is"
            text += f"; {unsigned} later record{plural} chained, not signed yet"
        return text


def verify_records(
    records: Iterable[AuditRecord],
    checkpoints: list[Checkpoint],
    public_key: Ed25519PublicKey,
    *,
    from_genesis: bool = True,
) -> Verification:
    """Verify ``records`` (in stored order) and ``checkpoints`` against ``public_key``."""
    by_seq = {checkpoint.seq: checkpoint for checkpoint in checkpoints}
    problems: list[tuple[int, str]] = []
    count = 0
    first_seq: int | None = None
    previous: AuditRecord | None = None
    seen_checkpoints: set[int] = set()
    for record in records:
        count += 1
        if previous is None:
            first_seq = record.seq
            if from_genesis and record.seq != 1:
                problems.append((1, f"record 1 is missing (the trail starts at seq {record.seq})"))
            if from_genesis and record.prev_hash != GENESIS_HASH:
                problems.append((record.seq, f"record {record.seq}: prev_hash is not the genesis"))
        else:
            if record.seq != previous.seq + 1:
                problems.append(
                    (
                        min(record.seq, previous.seq + 1),
                        f"record {record.seq} follows record {previous.seq}"
                        " (a record is missing, inserted or out of order)",
                    )
                )
            if record.prev_hash != previous.hash:
                problems.append(
                    (
                        record.seq,
                        f"record {record.seq}: prev_hash is not record {previous.seq}'s hash",
                    )
                )
        if record.expected_hash() != record.hash:
            problems.append(
                (record.seq, f"record {record.seq}: its hash does not match its fields")
            )
        checkpoint = by_seq.get(record.seq)
        if checkpoint is not None:
            seen_checkpoints.add(record.seq)
            if checkpoint.hash != record.hash:
                problems.append(
                    (
                        record.seq,
                        f"record {record.seq}: not the hash checkpoint {record.seq} signed",
                    )
                )
        previous = record
    for checkpoint in checkpoints:
        if not checkpoint.signed_by(public_key):
            problems.append(
                (
                    checkpoint.seq,
                    f"checkpoint at seq {checkpoint.seq}: not signed by this public key",
                )
            )
        if checkpoint.seq not in seen_checkpoints:
            problems.append(
                (checkpoint.seq, f"record {checkpoint.seq}, signed by a checkpoint, is missing")
            )
    signed = [checkpoint.seq for checkpoint in checkpoints if checkpoint.seq in seen_checkpoints]
    result = Verification(
        records=count,
        checkpoints=len(checkpoints),
        first_seq=first_seq,
        last_seq=None if previous is None else previous.seq,
        last_signed_seq=max(signed) if signed else None,
    )
    if not problems:
        return result
    bad_seq, problem = min(problems, key=lambda item: item[0])
    return Verification(
        records=result.records,
        checkpoints=result.checkpoints,
        first_seq=result.first_seq,
        last_seq=result.last_seq,
        last_signed_seq=result.last_signed_seq,
        problem=problem,
        bad_seq=bad_seq,
    )


def stored_records(
    cursor: duckdb.DuckDBPyConnection, *, from_seq: int = 0, to_seq: int | None = None
) -> Iterator[AuditRecord]:
    """The stored records of ``[from_seq, to_seq]`` by seq, read a chunk at a time."""
    result = cursor.execute(
        "SELECT seq, at_ns, kind, token_id, body, prev_hash, hash FROM audit_records"
        " WHERE seq >= $from AND ($to IS NULL OR seq <= $to) ORDER BY seq",
        {"from": from_seq, "to": to_seq},
    )
    while rows := result.fetchmany(_READ_ROWS):
        yield from records_from_rows(rows)


def verify_database(
    cursor: duckdb.DuckDBPyConnection, public_key: Ed25519PublicKey
) -> Verification:
    """Verify the whole stored trail."""
    checkpoints = read_checkpoints(cursor)
    return verify_records(stored_records(cursor), checkpoints, public_key)
