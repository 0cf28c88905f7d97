"""The API's FastAPI dependencies: the API key check, read cursors and the settings.

``/api`` is protected by ``Authorization: Bearer <key>`` when a key is configured,
compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from typing import Annotated

import duckdb
from fastapi import Depends, Request

from tokentrace_backend.derived import DerivedTables
from tokentrace_backend.settings import ApiSettings
from tokentrace_backend.storage.database import ReadableDatabase

from .errors import Unauthorized

logger = logging.getLogger(__name__)


def require_api_key(request: Request) -> None:
    """FastAPI dependency: passes when no key is configured or the request presents it."""
    settings: ApiSettings = request.app.state.settings
    if settings.api_key is None:
        return
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise Unauthorized("this API needs Authorization: Bearer <TOKENTRACE_API_KEY>")
    if not hmac.compare_digest(presented.strip().encode(), settings.api_key.encode()):
        raise Unauthorized("wrong API key")


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
