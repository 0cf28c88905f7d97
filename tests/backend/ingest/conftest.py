"""Fixtures for the ingest tests: a real `tokentrace serve` subprocess per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.backend.ingest.decoders import SPANS_DECODERS, require_native_decoder
from tests.backend.ingest.serve_process import ServeProcess
from tokentrace_backend.ingest.decoding import SpansDecoder


@pytest.fixture(params=sorted(SPANS_DECODERS))
def spans_decoder(request: pytest.FixtureRequest) -> SpansDecoder:
    """Each span decoder in turn: every decoding rule holds for both."""
    if request.param == "native":
        require_native_decoder()
    return SPANS_DECODERS[request.param]


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
