"""Per-request access to the app's database and settings (FastAPI dependencies)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

import duckdb
from fastapi import Depends, Request

from tokentrace_backend.derived import DerivedTables
from tokentrace_backend.settings import ApiSettings
from tokentrace_backend.storage.database import ReadableDatabase

logger = logging.getLogger(__name__)


def fresh_cursor(request: Request) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read cursor, after the derived per-token tables caught up with the latest batches."""
    database: ReadableDatabase = request.app.state.database
    derived: DerivedTables = request.app.state.derived
    with database.reader() as cursor:
        try:
            derived.catch_up(cursor)
        except duckdb.Error:  # answer from what is derived; the next request retries
            logger.exception("catching up the derived per-token tables failed")
        yield cursor


def raw_cursor(request: Request) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read cursor for queries over ``spans`` alone (no derived tables)."""
    database: ReadableDatabase = request.app.state.database
    with database.reader() as cursor:
        yield cursor


def settings(request: Request) -> ApiSettings:
    configured: ApiSettings = request.app.state.settings
    return configured


FreshCursor = Annotated[duckdb.DuckDBPyConnection, Depends(fresh_cursor)]
RawCursor = Annotated[duckdb.DuckDBPyConnection, Depends(raw_cursor)]
Settings = Annotated[ApiSettings, Depends(settings)]
