"""Fixtures of the backend tests: a real DuckDB file in tmp_path, its writer, and the span
builder that exports through the real ingest path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backend.span_builder import SpanBuilder
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter


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
