"""Exports of the trail that a third party verifies with the public key alone.

An export is always a whole-chain range of records ``[from_seq, to_seq]`` (by default
the whole trail) with the checkpoints inside it, so that every link and every signature
can be checked (a filtered selection could not be chained record to record).

- ``jsonl``: a header line ``{"type": "header", "format": "tokentrace-audit", "version":
  1, "from_seq", "to_seq", "public_key"}``, then one line per record (``"type":
  "record"`` and the record's fields, ``body`` as JSON data or its ``redacted:`` text), then
  one line per checkpoint (``"type": "checkpoint"``).
- ``parquet``: one row per record (``body`` as its stored text: canonical JSON or
  ``redacted:``), and the header with the checkpoints as JSON in the file's key-value
  metadata under ``tokentrace.audit``.

The header's ``public_key`` says which key signed; a verifier uses the key it trusts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from .records import AuditRecord
from .signing import Checkpoint, read_checkpoints
from .verification import stored_records

EXPORT_FORMAT: Final = "tokentrace-audit"
EXPORT_VERSION: Final = 1
FORMATS: Final = ("jsonl", "parquet")
PARQUET_METADATA_KEY: Final = b"tokentrace.audit"

_RECORD_SCHEMA: Final = pa.schema(
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


class ExportError(ValueError):
    """A file that is not a tokentrace audit export."""


@dataclass(frozen=True)
class AuditExport:
    """A read export: its range, the key it names, its records and checkpoints."""

    from_seq: int
    to_seq: int
    public_key: str | None
    records: list[AuditRecord]
    checkpoints: list[Checkpoint]


def _header(from_seq: int, to_seq: int, public_key: str | None) -> dict[str, Any]:
    return {
        "type": "header",
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "from_seq": from_seq,
        "to_seq": to_seq,
        "public_key": public_key,
    }


def _range(cursor: duckdb.DuckDBPyConnection, from_seq: int, to_seq: int | None) -> tuple[int, int]:
    row = cursor.execute("SELECT coalesce(max(seq), 0) FROM audit_records").fetchone()
    last = int(row[0]) if row else 0
    return max(from_seq, 1), last if to_seq is None else min(to_seq, last)


def write_jsonl(
    cursor: duckdb.DuckDBPyConnection,
    out: IO[str],
    *,
    public_key: str | None,
    from_seq: int = 1,
    to_seq: int | None = None,
) -> int:
    """Write the range as JSON lines; returns the records written."""
    first, last = _range(cursor, from_seq, to_seq)
    out.write(json.dumps(_header(first, last, public_key)) + "\n")
    written = 0
    for record in stored_records(cursor, from_seq=first, to_seq=last):
        out.write(json.dumps({"type": "record", **record.as_json()}, ensure_ascii=False) + "\n")
        written += 1
    for checkpoint in read_checkpoints(cursor, from_seq=first, to_seq=last):
        out.write(json.dumps({"type": "checkpoint", **checkpoint.as_json()}) + "\n")
    return written


def write_parquet(
    cursor: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    public_key: str | None,
    from_seq: int = 1,
    to_seq: int | None = None,
) -> int:
    """Write the range as a Parquet file; returns the records written."""
    first, last = _range(cursor, from_seq, to_seq)
    records = list(stored_records(cursor, from_seq=first, to_seq=last))
    table = pa.Table.from_pylist(
        [
            {
                "seq": record.seq,
                "at": record.at,
                "kind": record.kind,
                "token_id": record.token_id,
                "body": record.body,
                "prev_hash": record.prev_hash,
                "hash": record.hash,
            }
            for record in records
        ],
        schema=_RECORD_SCHEMA,
    )
    header = _header(first, last, public_key) | {
        "checkpoints": [
            checkpoint.as_json()
            for checkpoint in read_checkpoints(cursor, from_seq=first, to_seq=last)
        ]
    }
    metadata = {PARQUET_METADATA_KEY: json.dumps(header).encode("utf-8")}
    pq.write_table(table.replace_schema_metadata(metadata), path)
    return len(records)


def read_export(path: Path) -> AuditExport:
    """Read a ``jsonl`` or ``parquet`` export (told apart by Parquet's magic bytes)."""
    with Path(path).open("rb") as file:
        magic = file.read(4)
    if magic == b"PAR1":
        return _read_parquet(path)
    return _read_jsonl(path)


def _checked_header(header: Any) -> dict[str, Any]:
    if (
        not isinstance(header, dict)
        or header.get("format") != EXPORT_FORMAT
        or header.get("version") != EXPORT_VERSION
    ):
        raise ExportError("not a tokentrace audit export (version 1)")
    return header


def _read_jsonl(path: Path) -> AuditExport:
    records: list[AuditRecord] = []
    checkpoints: list[Checkpoint] = []
    header: dict[str, Any] | None = None
    try:
        for line in _lines(path):
            item = json.loads(line)
            kind = item.get("type") if isinstance(item, dict) else None
            if header is None:
                header = _checked_header(item)
            elif kind == "record":
                records.append(AuditRecord.from_json(item))
            elif kind == "checkpoint":
                checkpoints.append(Checkpoint.from_json(item))
            else:
                raise ExportError(f"unknown line type {kind!r}")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        if isinstance(error, ExportError):
            raise
        raise ExportError(f"unreadable export line: {error}") from None
    if header is None:
        raise ExportError("empty export")
    return AuditExport(
        from_seq=int(header["from_seq"]),
        to_seq=int(header["to_seq"]),
        public_key=header.get("public_key"),
        records=records,
        checkpoints=checkpoints,
    )


def _lines(path: Path) -> Iterator[str]:
    with Path(path).open(encoding="utf-8") as file:
        for line in file:
            if line.strip():
                yield line


def _read_parquet(path: Path) -> AuditExport:
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(PARQUET_METADATA_KEY)
    if raw is None:
        raise ExportError("a Parquet file without tokentrace.audit metadata")
    header = _checked_header(json.loads(raw))
    records = [
        AuditRecord(
            seq=int(row["seq"]),
            at=int(row["at"]),
            kind=row["kind"],
            token_id=row["token_id"],
            body=row["body"],
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )
        for row in table.to_pylist()
    ]
    return AuditExport(
        from_seq=int(header["from_seq"]),
        to_seq=int(header["to_seq"]),
        public_key=header.get("public_key"),
        records=records,
        checkpoints=[Checkpoint.from_json(item) for item in header.get("checkpoints", [])],
    )
