"""``tokentrace redetect``: the detectors read everything again, in a stopped server's file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.backend.detect.conftest import ingest
from tokentrace_backend.detect import Detection
from tokentrace_backend.scenario.incidents import Request, Traffic, export_requests
from tokentrace_backend.storage import Database

T0 = 1_780_000_000 * 1_000_000_000


def _redetect(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tokentrace.cli", "redetect", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_redetect_finds_again_what_was_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "spans.duckdb"
    stuffing = [
        Request(
            token_id=f"{index:032x}",
            start_ns=T0 + index * 1_000_000_000,
            endpoint="GET /orders",
            outcome="invalid",
            client_address="198.51.100.7",
            user_agent="curl/8.5.0",
        )
        for index in range(30)
    ]
    database = Database(path)
    ingest(database, Detection(), export_requests(Traffic(requests=stuffing)))
    with database.reader() as cursor:
        cursor.execute("UPDATE findings SET state = 'acknowledged'")
        cursor.execute("DELETE FROM address_failures")  # what the detectors learned, lost
    database.close()

    done = _redetect("--db", str(path))
    assert done.returncode == 0, done.stderr
    assert "findings: 1 acknowledged" in done.stdout
    reopened = Database(path)
    with reopened.reader() as cursor:
        rows = cursor.execute("SELECT kind, client_address FROM findings").fetchall()
        learned = cursor.execute("SELECT count(*) FROM address_failures").fetchone()
    reopened.close()
    assert rows == [("credential_stuffing", "198.51.100.7")]
    assert learned == (30,)


def test_redetect_without_a_database_says_so(tmp_path: Path) -> None:
    done = _redetect("--db", str(tmp_path / "missing.duckdb"))
    assert done.returncode == 2
    assert "no database at" in done.stderr
