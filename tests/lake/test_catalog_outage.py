"""The lake's PostgreSQL goes away and comes back: a node refuses exports meanwhile (its
clients retry) instead of hanging or losing its writer, and acknowledges again after."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.lake.lake_nodes import lake_node, missing, one_request_export
from tests.polling import wait_for
from tokentrace_backend.scenario.postgres import PostgresServer, find_postgres_bin


def _one_request_body(token: str) -> bytes:
    return one_request_export(token)[1]


def _post(otlp_url: str, body: bytes) -> int:
    """The status of one export; 0 when the node did not answer within 30 s."""
    try:
        return httpx.post(
            f"{otlp_url}/v1/traces",
            content=body,
            headers={"Content-Type": "application/x-protobuf"},
            timeout=30,
        ).status_code
    except httpx.HTTPError:
        return 0


def test_a_node_refuses_exports_while_the_catalog_is_away_and_recovers(
    lake_tokentrace: list[str], tmp_path: Path
) -> None:
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        missing("PostgreSQL server binaries for lake mode's tests")
    assert bin_dir is not None
    with PostgresServer(bin_dir) as postgres:  # its own server: this test stops it
        catalog = postgres.create_database("outage")
        node = lake_node(lake_tokentrace, catalog, tmp_path / "lake", tmp_path, "node")
        node.start(timeout=90)
        try:
            token = os.urandom(16).hex()
            assert _post(node.otlp_url, _one_request_body(token)) == 200

            postgres.pause()
            during = [_post(node.otlp_url, _one_request_body(token)) for _ in range(3)]
            assert all(status >= 500 for status in during), during  # refused, not hung
            assert node.process is not None and node.process.running

            postgres.resume()
            # DuckLake 1.5.5 sometimes invalidates its DuckDB instance when the catalog goes
            # away mid-statement; the node then exits with 3, for its supervisor (here the
            # test) to start it again. Either way, it acknowledges again.
            process = node.process

            def acknowledged_or_exited() -> str | None:
                if not process.running:
                    return "exited"
                return (
                    "acknowledged"
                    if _post(node.otlp_url, _one_request_body(token)) == 200
                    else None
                )

            outcome = wait_for(
                acknowledged_or_exited, "the node back, or exited", timeout=90, interval=1.0
            )
            if outcome == "exited":
                assert process.poll() == 3, node.process.log_tail()
                assert b"DuckDB invalidated" in process.log_bytes()
                node.start(timeout=90)  # as a supervisor would
                assert _post(node.otlp_url, _one_request_body(token)) == 200

            def counted() -> int | None:
                answer = httpx.get(
                    f"{node.api_url}/api/tokens/{token}", params={"since": "1h"}, timeout=20
                )
                if answer.status_code == 404:  # not derived yet
                    return None
                answer.raise_for_status()
                requests = int(answer.json()["requests"])
                return requests if requests >= 2 else None

            # The one before the outage and the ones acknowledged after it (the refused
            # ones were never acknowledged, and their clients would have sent them again).
            assert wait_for(counted, "the acknowledged requests counted", timeout=60) >= 2
        finally:
            node.stop()
