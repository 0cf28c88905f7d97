"""Erasing a token (``DELETE /api/tokens/{id}``, ``tokentrace erase``): afterwards no stored
row names it, in any column of any table, and the audit trail still verifies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from tests.backend.audit.stored_trail import StoredTrail
from tests.backend.scenario import HEALTHY, ROTATED, ROTATED_TO, UNKNOWN
from tests.loopback import serve_asgi
from tokentrace.cli import main
from tokentrace_backend.api import create_api_app
from tokentrace_backend.audit import (
    AuditFollower,
    load_private_key,
    load_public_key,
    verify_database,
)
from tokentrace_backend.audit.records import redacted, sha256_hex
from tokentrace_backend.storage import Database

API_KEY = "erasure-key"
STUFFED_TOKEN = "a" * 31 + "1"  # one of the stuffing incident's: named in its finding's evidence


def mentions(db_path: Path, token_id: str) -> list[str]:
    """Every ``table.column`` whose text, as stored, contains ``token_id``."""
    found = []
    with duckdb.connect(str(db_path)) as connection:
        columns = connection.execute(
            "SELECT table_name, column_name FROM duckdb_columns()"
            " WHERE schema_name = 'main' AND NOT internal"
        ).fetchall()
        for table, column in columns:
            row = connection.execute(
                f'SELECT count(*) FROM "{table}"'
                f' WHERE contains(lower(CAST("{column}" AS VARCHAR)), ?)',
                [token_id],
            ).fetchone()
            if row and row[0]:
                found.append(f"{table}.{column}")
    return found


def _verifies(trail: StoredTrail, database: Database) -> str | None:
    with database.reader() as cursor:
        return verify_database(cursor, load_public_key(trail.key_path)).problem


@pytest.fixture
def served(trail: StoredTrail) -> Iterator[tuple[Database, httpx.Client]]:
    database = Database(trail.db_path)
    follower = AuditFollower(load_private_key(trail.key_path))
    app = create_api_app(database, api_key=API_KEY, audit=follower)
    with (
        serve_asgi(app, lifespan="off") as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}) as client,
    ):
        yield database, client
    database.close()


def test_the_scan_finds_what_is_stored(trail: StoredTrail) -> None:
    found = mentions(trail.db_path, ROTATED_TO)
    assert {"spans.token_id", "token_dim.token_id", "findings.token_id"} <= set(found)
    assert "token_lifecycle.new_token_id" in found and "audit_records.token_id" in found


def test_deleting_a_token_erases_every_row_naming_it(
    trail: StoredTrail, served: tuple[Database, httpx.Client]
) -> None:
    database, client = served
    answer = client.delete(f"/api/tokens/{ROTATED_TO.upper()}", params={"actor": "dpo"})
    assert answer.status_code == 200, answer.text
    erased = answer.json()
    assert erased["token_id"] == ROTATED_TO
    assert erased["rows"]["spans"] >= 1 and erased["rows"]["findings"] == 1
    assert erased["mentions"] == {
        "spans.attributes": 1,  # the rotation event of 666... named it as the new token
        "token_lifecycle.new_token_id": 1,
    }
    assert erased["redacted_records"] == 3  # its first use, its finding, 666...'s rotation
    assert _verifies(trail, database) is None
    with database.reader() as cursor:
        record = cursor.execute(
            "SELECT kind, token_id, body FROM audit_records ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        rotation = cursor.execute(
            "SELECT new_token_id FROM token_lifecycle WHERE token_id = ?", [ROTATED]
        ).fetchall()
    assert record is not None
    assert (record[0], record[1]) == ("token.erased", redacted(ROTATED_TO))
    assert (
        f'"token_sha256":"{sha256_hex(ROTATED_TO)}"' in record[2] and '"actor":"dpo"' in record[2]
    )
    assert rotation == [(redacted(ROTATED_TO),)]
    assert mentions(trail.db_path, ROTATED_TO) == []
    # What the token shared with others stays: 666... and its rotation are still there.
    assert client.get(f"/api/tokens/{ROTATED}").status_code == 200
    assert client.get(f"/api/tokens/{ROTATED_TO}").status_code == 404
    assert client.delete(f"/api/tokens/{ROTATED_TO}").status_code == 404


def test_the_daily_roll_ups_of_a_token_are_erased_too(
    served: tuple[Database, httpx.Client],
) -> None:
    """Roll-ups are keyed by token number, which a text scan cannot see: after the erasure
    no roll-up row keeps the erased token's number (a later token could be given it)."""
    database, client = served
    with database.reader() as cursor:
        numbers = dict(cursor.execute("SELECT token_id, token_number FROM token_dim").fetchall())
        for token_id in (HEALTHY, ROTATED_TO):
            number = numbers[token_id]
            cursor.execute(
                "INSERT INTO token_request_days VALUES"
                " (?, 20000, 'gateway', 'GET', '/orders', 'success', '10.0.0.1', 'ua', false,"
                " 3, 1, 2, 10, MAP {1: 3})",
                [number],
            )
            cursor.execute(
                "INSERT INTO token_call_days VALUES (?, 20000, 'gateway', 'orders', 'service',"
                " 3, 0, MAP {1: 3})",
                [number],
            )
            cursor.execute(
                "INSERT INTO token_failure_days VALUES"
                " (?, 20000, 'orders', 'SELECT', 'E', 1, 1, 2)",
                [number],
            )
    assert client.delete(f"/api/tokens/{ROTATED_TO}").status_code == 200
    with database.reader() as cursor:
        left = {
            table: cursor.execute(f"SELECT DISTINCT token_number FROM {table}").fetchall()
            for table in ("token_request_days", "token_call_days", "token_failure_days")
        }
    assert left == {table: [(numbers[HEALTHY],)] for table in left}


def test_an_unknown_token_is_not_found_and_the_key_is_needed(
    served: tuple[Database, httpx.Client],
) -> None:
    _, client = served
    unknown = client.delete(f"/api/tokens/{UNKNOWN}")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "token_not_found"
    anonymous = client.delete(f"/api/tokens/{HEALTHY}", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert client.get(f"/api/tokens/{HEALTHY}").status_code == 200


def test_the_erase_command_erases_a_stopped_servers_token(
    trail: StoredTrail, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["erase", STUFFED_TOKEN, "--db", str(trail.db_path), "--actor", "dpo"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[0].startswith(f"erased token {STUFFED_TOKEN}: rows deleted: spans 1,")
    assert "findings.evidence 1" in out  # the stuffing finding listed it among its ids
    assert out.splitlines()[-1] == "audit records redacted: 1; recorded as audit record 41"
    assert mentions(trail.db_path, STUFFED_TOKEN) == []
    assert main(["audit", "verify", "--db", str(trail.db_path)]) == 0
    assert capsys.readouterr().out.strip() == (
        "audit trail verified: records 1-41, 3 signed checkpoints, the last at seq 41"
    )
    assert main(["erase", STUFFED_TOKEN, "--db", str(trail.db_path)]) == 1
