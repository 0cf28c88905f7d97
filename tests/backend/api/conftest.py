"""Fixtures: a real DuckDB file filled through the real ingest path, and the API served
over HTTP by uvicorn on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.loopback import serve_asgi
from tokentrace_backend.api import create_api_app
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter

from .scenario import JAEGER_URL, Scenario, build_scenario
from .span_builder import SpanBuilder


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(tmp_path / "spans.duckdb")
    yield db
    db.close()


@pytest.fixture
def writer(database: Database) -> Iterator[SpanWriter]:
    span_writer = SpanWriter(database)
    span_writer.start()
    yield span_writer
    span_writer.close()


@pytest.fixture
def builder() -> Iterator[SpanBuilder]:
    spans = SpanBuilder()
    yield spans
    spans.shutdown()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """The scenario, stored once per test module (the tests only read it)."""
    db = Database(tmp_path_factory.mktemp("scenario") / "spans.duckdb")
    span_writer = SpanWriter(db)
    span_writer.start()
    spans = SpanBuilder()
    try:
        yield build_scenario(spans, span_writer, db)
    finally:
        spans.shutdown()
        span_writer.close()
        db.close()


@pytest.fixture(scope="module")
def api_url(scenario: Scenario) -> Iterator[str]:
    app = create_api_app(scenario.database, api_key="", jaeger_url=JAEGER_URL)
    with serve_asgi(app, lifespan="off") as url:
        yield url


@pytest.fixture
def client(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30) as http:
        yield http
