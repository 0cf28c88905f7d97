"""A database file with an audit trail: the reference scenario (tests/backend/scenario.py)
and a credential-stuffing incident with a scope violation, stored through the real
ingest path, derived, detected and recorded by the audit follower, with its signing key
beside it (``<db>.audit-key``, as ``tokentrace serve`` makes it)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tests.backend.detect.conftest import ingest
from tests.backend.scenario import ROTATED_TO, build_scenario
from tests.backend.span_builder import SpanBuilder
from tokentrace_backend.audit import AuditFollower, load_or_create_private_key
from tokentrace_backend.derived import refresh_derived
from tokentrace_backend.detect import Detection
from tokentrace_backend.scenario.incidents import Request, Traffic, export_requests
from tokentrace_backend.settings import audit_key_path
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter

STUFFED_ADDRESS = "198.51.100.7"


@dataclass(frozen=True)
class StoredTrail:
    db_path: Path
    key_path: Path


def stuffing_requests(start_ns: int) -> list[Request]:
    """Thirty token ids failing from one address, and a request of the rotated-to token
    refused for a missing scope."""
    failing = [
        Request(
            token_id=f"{index + 1:x}".rjust(32, "a"),
            start_ns=start_ns + index * 1_000_000_000,
            endpoint="GET /orders",
            outcome="invalid",
            client_address=STUFFED_ADDRESS,
            user_agent="curl/8.5.0",
        )
        for index in range(30)
    ]
    scoped = Request(
        token_id=ROTATED_TO,
        start_ns=start_ns + 40 * 1_000_000_000,
        endpoint="DELETE /orders/{id}",
        outcome="insufficient_scope",
        client_address="10.0.0.7",
        user_agent="python-httpx/0.28",
    )
    return [*failing, scoped]


def store_trail(directory: Path) -> StoredTrail:
    """Store everything and record it; the database is closed on return."""
    db_path = directory / "trail.duckdb"
    database = Database(db_path)
    key, _ = load_or_create_private_key(audit_key_path(db_path))
    follower = AuditFollower(key)
    spans = SpanBuilder()
    writer = SpanWriter(database)
    writer.start()
    try:
        build_scenario(spans, writer, database)
    finally:
        spans.shutdown()
        writer.close()
    detection = Detection()
    with database.reader() as cursor:
        refresh_derived(cursor)
        detection.catch_up(cursor)
        follower.catch_up(cursor)
    start = time.time_ns() - 1_800 * 1_000_000_000
    ingest(database, detection, export_requests(Traffic(requests=stuffing_requests(start))))
    with database.reader() as cursor:
        follower.catch_up(cursor)
        follower.checkpoint(cursor)
    database.close()
    return StoredTrail(db_path=db_path, key_path=audit_key_path(db_path))
