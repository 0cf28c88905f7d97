"""The audit follower in a served app: the background refresh records what it derived, and
the app signs the head when it stops. The signing key's file and settings."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.backend.scenario import ROTATED, build_scenario
from tests.backend.span_builder import SpanBuilder
from tests.loopback import serve_asgi
from tokentrace import SettingsError
from tokentrace_backend.api import create_api_app
from tokentrace_backend.audit import (
    AuditFollower,
    load_or_create_private_key,
    load_private_key,
    load_public_key,
    public_key_hex,
    verify_database,
)
from tokentrace_backend.settings import TOKENTRACE_AUDIT_KEY, AuditSettings
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter


def test_the_background_refresh_records_and_the_app_signs_when_it_stops(tmp_path: Path) -> None:
    database = Database(tmp_path / "live.duckdb")
    key, _ = load_or_create_private_key(tmp_path / "live.duckdb.audit-key")
    app = create_api_app(database, api_key="", refresh_interval=0.05, audit=AuditFollower(key))
    spans = SpanBuilder()
    writer = SpanWriter(database)
    writer.start()
    try:
        with serve_asgi(app, lifespan="on") as url, httpx.Client(base_url=url) as client:
            build_scenario(spans, writer, database)
            deadline = time.monotonic() + 30
            kinds: list[str] = []
            while "lifecycle.recorded" not in kinds and time.monotonic() < deadline:
                time.sleep(0.05)
                records = client.get("/api/audit", params={"token_id": ROTATED}).json()["records"]
                kinds = [record["kind"] for record in records]
            assert kinds == ["token.first_use", "lifecycle.recorded"]
        with database.reader() as cursor:
            result = verify_database(cursor, key.public_key())
    finally:
        spans.shutdown()
        writer.close()
        database.close()
    assert result.ok and result.records == 8
    assert result.last_signed_seq == 8  # signed at the latest when the lifespan ended


def test_the_key_is_generated_once_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb.audit-key"
    key, created = load_or_create_private_key(path)
    again, created_again = load_or_create_private_key(path)
    assert (created, created_again) == (True, False)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public_key_hex(again.public_key()) == public_key_hex(key.public_key())
    assert public_key_hex(load_public_key(path)) == public_key_hex(key.public_key())


def test_a_raw_key_file_is_read_and_a_missing_one_refused(tmp_path: Path) -> None:
    raw = Ed25519PrivateKey.generate()
    path = tmp_path / "raw.key"
    path.write_bytes(raw.private_bytes_raw())
    settings = AuditSettings.resolve(tmp_path / "db.duckdb", {TOKENTRACE_AUDIT_KEY: str(path)})
    assert settings.key_given and settings.key_path == path
    assert public_key_hex(load_private_key(path).public_key()) == public_key_hex(raw.public_key())
    default = AuditSettings.resolve(tmp_path / "db.duckdb", {})
    assert default.key_path == tmp_path / "db.duckdb.audit-key" and not default.key_given
    with pytest.raises(SettingsError, match=TOKENTRACE_AUDIT_KEY):
        AuditSettings.resolve(tmp_path / "db.duckdb", {TOKENTRACE_AUDIT_KEY: str(tmp_path / "no")})
