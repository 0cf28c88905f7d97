"""``tokentrace audit verify|export|public-key`` on the real file, untouched and tampered
with (edited, deleted, inserted, reordered records; a checkpoint signed by another key),
and exports verified with the public key alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.backend.audit.stored_trail import StoredTrail
from tokentrace.cli import main
from tokentrace_backend.audit.records import record_hash
from tokentrace_backend.audit.signing import checkpoint_message

Tamper = Callable[[duckdb.DuckDBPyConnection], None]


def _run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str]:
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _edit(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("UPDATE audit_records SET body = replace(body, 'k1', 'k2') WHERE seq = 3")


def _rewrite_consistently(connection: duckdb.DuckDBPyConnection) -> None:
    """Edit record 3 and recompute every later hash: only the signatures can tell."""
    _edit(connection)
    rows = connection.execute(
        "SELECT seq, at_ns, kind, token_id, body FROM audit_records WHERE seq >= 3 ORDER BY seq"
    ).fetchall()
    previous = connection.execute("SELECT hash FROM audit_records WHERE seq = 2").fetchone()
    assert previous is not None
    prev = str(previous[0])
    for seq, at, kind, token, body in rows:
        digest = record_hash(seq=seq, at=at, kind=kind, token_id=token, body=body, prev_hash=prev)
        connection.execute(
            "UPDATE audit_records SET prev_hash = ?, hash = ? WHERE seq = ?", [prev, digest, seq]
        )
        prev = digest


def _delete(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("DELETE FROM audit_records WHERE seq = 5")


def _truncate(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("DELETE FROM audit_records WHERE seq = 40")


def _insert(connection: duckdb.DuckDBPyConnection) -> None:
    """A forged record 11 with a valid hash, the later ones moved up by one."""
    connection.execute("UPDATE audit_records SET seq = seq + 1000 WHERE seq > 10")
    connection.execute("UPDATE audit_records SET seq = seq - 999 WHERE seq > 1000")
    row = connection.execute("SELECT hash FROM audit_records WHERE seq = 10").fetchone()
    assert row is not None
    body = '{"first_seen_ns":1,"key_id":null}'
    digest = record_hash(
        seq=11, at=1, kind="token.first_use", token_id="f" * 32, body=body, prev_hash=row[0]
    )
    connection.execute(
        "INSERT INTO audit_records VALUES (11, 1, 'token.first_use', ?, ?, ?, ?)",
        ["f" * 32, body, row[0], digest],
    )


def _reorder(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("UPDATE audit_records SET seq = 1003 WHERE seq = 3")
    connection.execute("UPDATE audit_records SET seq = 3 WHERE seq = 4")
    connection.execute("UPDATE audit_records SET seq = 4 WHERE seq = 1003")


def _resign(connection: duckdb.DuckDBPyConnection) -> None:
    other = Ed25519PrivateKey.generate()
    row = connection.execute(
        "SELECT seq, hash, at_ns FROM audit_checkpoints WHERE seq = 8"
    ).fetchone()
    assert row is not None
    signature = other.sign(checkpoint_message(int(row[0]), str(row[1]), int(row[2]))).hex()
    connection.execute("UPDATE audit_checkpoints SET signature = ? WHERE seq = 8", [signature])


def test_an_untouched_trail_verifies(
    trail: StoredTrail, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, "audit", "verify", "--db", str(trail.db_path))
    assert code == 0, out
    assert out.strip() == (
        "audit trail verified: records 1-40, 2 signed checkpoints, the last at seq 40"
    )


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (_edit, "record 3: its hash does not match its fields"),
        (_rewrite_consistently, "record 8: not the hash checkpoint 8 signed"),
        (_delete, "record 6 follows record 4 (a record is missing, inserted or out of order)"),
        (_truncate, "record 40, signed by a checkpoint, is missing"),
        (_insert, "record 12: prev_hash is not record 11's hash"),
        (_reorder, "record 3: prev_hash is not record 2's hash"),
        (_resign, "checkpoint at seq 8: not signed by this public key"),
    ],
    ids=["edited", "rewritten", "deleted", "truncated", "inserted", "reordered", "re-signed"],
)
def test_a_tampered_trail_fails_naming_the_first_bad_record(
    trail: StoredTrail, capsys: pytest.CaptureFixture[str], tamper: Tamper, named: str
) -> None:
    with duckdb.connect(str(trail.db_path)) as connection:
        tamper(connection)
    code, out = _run(capsys, "audit", "verify", "--db", str(trail.db_path))
    assert code == 1
    assert out.strip() == f"audit trail NOT verified: {named}"


def _public_key(trail: StoredTrail, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    code, pem = _run(capsys, "audit", "public-key", "--db", str(trail.db_path))
    assert code == 0
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    path = tmp_path / "audit.pub"
    path.write_text(pem)
    return path


@pytest.mark.parametrize("export_format", ["jsonl", "parquet"])
def test_an_export_verifies_with_the_public_key_alone(
    trail: StoredTrail, capsys: pytest.CaptureFixture[str], tmp_path: Path, export_format: str
) -> None:
    public_key = _public_key(trail, capsys, tmp_path)
    exported = tmp_path / f"trail.{export_format}"
    code, out = _run(
        capsys, "audit", "export", "--format", export_format,
        "--db", str(trail.db_path), "--output", str(exported),
    )  # fmt: skip
    assert code == 0, out
    assert out.strip() == f"exported 40 audit records to {exported}"
    trail.db_path.unlink()  # the verifier has the export and the public key, nothing else
    trail.key_path.unlink()
    code, out = _run(
        capsys, "audit", "verify", "--export", str(exported), "--public-key", str(public_key)
    )
    assert code == 0, out
    assert out.strip().startswith("audit trail verified: records 1-40, 2 signed checkpoints")


def test_a_tampered_jsonl_export_fails(
    trail: StoredTrail, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    public_key = _public_key(trail, capsys, tmp_path)
    exported = tmp_path / "trail.jsonl"
    assert (
        _run(capsys, "audit", "export", "--db", str(trail.db_path), "--output", str(exported))[0]
        == 0
    )
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert lines[0]["type"] == "header" and lines[0]["from_seq"] == 1
    lines[8]["body"]["actor"] = "someone else"  # record 8: the lifecycle event's actor
    exported.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code, out = _run(
        capsys, "audit", "verify", "--export", str(exported), "--public-key", str(public_key)
    )
    assert code == 1
    assert out.strip() == "audit trail NOT verified: record 8: its hash does not match its fields"


def test_a_tampered_parquet_export_fails(
    trail: StoredTrail, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    public_key = _public_key(trail, capsys, tmp_path)
    exported = tmp_path / "trail.parquet"
    code, _ = _run(
        capsys, "audit", "export", "--format", "parquet",
        "--db", str(trail.db_path), "--output", str(exported),
    )  # fmt: skip
    assert code == 0
    table = pq.read_table(exported)
    kinds = table.column("kind").to_pylist()
    kinds[0] = "token.erased"
    table = table.set_column(table.schema.get_field_index("kind"), "kind", [kinds])
    pq.write_table(table, exported)  # the schema's metadata (checkpoints) travels along
    code, out = _run(
        capsys, "audit", "verify", "--export", str(exported), "--public-key", str(public_key)
    )
    assert code == 1
    assert out.strip() == "audit trail NOT verified: record 1: its hash does not match its fields"


def test_an_export_checked_against_another_key_fails(
    trail: StoredTrail, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    exported = tmp_path / "trail.jsonl"
    assert (
        _run(capsys, "audit", "export", "--db", str(trail.db_path), "--output", str(exported))[0]
        == 0
    )
    other = tmp_path / "other.pub"
    other.write_text(Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex())
    code, out = _run(
        capsys, "audit", "verify", "--export", str(exported), "--public-key", str(other)
    )
    assert code == 1
    assert (
        out.strip()
        == "audit trail NOT verified: checkpoint at seq 8: not signed by this public key"
    )
