"""Fixtures: the reference scenario stored once per module, and the API served over HTTP
by uvicorn on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.backend.scenario import JAEGER_URL, Scenario, build_scenario
from tests.backend.span_builder import SpanBuilder
from tests.loopback import serve_asgi
from tokentrace_backend.api import create_api_app
from tokentrace_backend.derived import refresh_derived
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """The scenario, stored once per test module (the tests only read it)."""
    db = Database(tmp_path_factory.mktemp("scenario") / "spans.duckdb")
    span_writer = SpanWriter(db)
    span_writer.start()
    spans = SpanBuilder()
    try:
        stored = build_scenario(spans, span_writer, db)
        with db.reader() as cursor:
            refresh_derived(cursor)  # what the server's background refresh does
        yield stored
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
