"""Erasing a token in lake mode: DuckLake keeps older snapshots (time travel) and their
files, so a row deleted in the current snapshot is still on disk and readable ``AT
(VERSION => n)``. An erasure purges them at once; afterwards no Parquet file and no
catalog row names the token."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.lake.lake_nodes import get_json, lake_node, log_of
from tests.lake.lake_search import catalog_rows_holding, parquet_rows_holding
from tests.polling import wait_for
from tokentrace_backend.scenario import history as histories


def test_an_erased_token_is_in_no_parquet_file_and_no_catalog_row(
    lake_tokentrace: list[str], catalog: str, tmp_path: Path
) -> None:
    data = tmp_path / "lake"
    node = lake_node(lake_tokentrace, catalog, data, tmp_path, "node")
    node.start()
    try:
        history = histories.generate(now_ns=time.time_ns(), tokens=6, days=1, seed=11)
        histories.load(f"{node.otlp_url}/v1/traces", history)
        # The history reaches into the hour after now: count its last spans too.
        until = {
            "since": "3d",
            "until": (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "limit": 500,
        }

        def derived() -> list[dict[str, object]] | None:
            tokens: list[dict[str, object]] = get_json(node.api_url, "/api/tokens", **until)[
                "tokens"
            ]
            return tokens if len(tokens) >= 6 else None

        tokens = wait_for(derived, "the history's tokens derived", timeout=120)
        # The smallest id is the one a column's min statistic would keep, if anything did.
        victim = min(str(token["token_id"]) for token in tokens)
        others = sorted(str(token["token_id"]) for token in tokens if token["token_id"] != victim)
        parquet = sorted(data.rglob("*.parquet"))
        assert {secret for _, secret in parquet_rows_holding(parquet, [victim])} == {victim}

        erased = httpx.delete(f"{node.api_url}/api/tokens/{victim}", timeout=120)
        assert erased.status_code == 200, erased.text
        assert erased.json()["rows"]["spans"] > 0
    finally:
        node.stop()
    assert b"Traceback" not in log_of(node), log_of(node).decode(errors="replace")[-4000:]

    parquet = sorted(data.rglob("*.parquet"))
    assert [
        (path.parent.name, path.name) for path in parquet if parquet_rows_holding([path], [victim])
    ] == []
    in_catalog, tables = catalog_rows_holding(catalog, [victim])
    assert in_catalog == []
    assert "public.ducklake_file_column_stats" in tables
    # The search still finds what is stored: the other tokens.
    kept = {secret for _, secret in parquet_rows_holding(parquet, others)}
    assert kept == set(others)
