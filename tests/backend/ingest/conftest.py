"""Fixtures for the ingest tests: a real `tokentrace serve` subprocess per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.backend.ingest.serve_process import ServeProcess
from tokentrace_backend.otlp.decoders import SpansDecoder
from tokentrace_backend.otlp.native_decoding import decode_spans_native, native_decoder_problem
from tokentrace_backend.otlp.span_columns import decode_spans

SPANS_DECODERS: dict[str, SpansDecoder] = {"python": decode_spans, "native": decode_spans_native}


def require_native_decoder() -> None:
    """Skip without the compiled decoder, except in CI, where it must have been built."""
    problem = native_decoder_problem()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test the native decoder (scripts/test builds it): {problem}")
        pytest.skip(f"the native decoder (native/): {problem}")


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
