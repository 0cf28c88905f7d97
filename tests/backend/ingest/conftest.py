"""Fixtures for the ingest tests: a real `tokentrace serve` subprocess per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.backend.ingest.serve_process import ServeProcess


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """Start servers on a DuckDB file in tmp_path; all are stopped after the test."""
    started: list[ServeProcess] = []

    def start(env: dict[str, str] | None = None, db_path: Path | None = None) -> ServeProcess:
        server = ServeProcess(db_path or tmp_path / "spans.duckdb", env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.__exit__(None, None, None)
