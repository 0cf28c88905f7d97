"""The new-network detector on addresses stored truncated (``serve --client-ip truncate``):
the same traffic, its addresses cut to their /24 at ingest, still opens the finding."""

from __future__ import annotations

from pathlib import Path

from tests.backend.detect.conftest import DAYS, START_NS, build_traffic
from tokentrace_backend.derived import refresh_derived
from tokentrace_backend.detect import AnomalyKind, Detection
from tokentrace_backend.detect.networks import network_of
from tokentrace_backend.ingest import decode_spans
from tokentrace_backend.ingest.client_addresses import (
    protect_client_addresses,
    truncated_address,
)
from tokentrace_backend.scenario.incidents import DAY_NS, export_requests
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter


def test_new_network_is_found_on_truncated_addresses(tmp_path: Path) -> None:
    traffic, _ = build_traffic(11, START_NS)
    incident = next(item for item in traffic.incidents if item.kind is AnomalyKind.NEW_NETWORK)
    database = Database(tmp_path / "truncated.duckdb")
    detection = Detection(clock=lambda: START_NS + DAYS * DAY_NS)
    writer = SpanWriter(database)
    writer.start()
    try:
        for number, body in enumerate(export_requests(traffic), 1):
            writer.submit(protect_client_addresses(decode_spans(body), "truncate")).result(60)
            if number % 4 == 0:
                with database.reader() as cursor:
                    refresh_derived(cursor)
                    detection.catch_up(cursor)
    finally:
        writer.close()
    with database.reader() as cursor:
        refresh_derived(cursor)
        detection.catch_up(cursor)
        stored = cursor.execute(
            "SELECT count(*) FROM token_requests WHERE client_address NOT LIKE '%.0'"
        ).fetchone()
        found = cursor.execute(
            "SELECT token_id, client_address FROM findings WHERE kind = 'new_network'"
        ).fetchall()
    database.close()
    assert stored == (0,)  # every stored address is a network address
    # The finding names the (truncated) address it saw, in the network it was new from.
    assert incident.client_address is not None
    assert network_of(incident.client_address) == network_of(
        truncated_address(incident.client_address)
    )
    assert (incident.token_id, truncated_address(incident.client_address)) in found
