"""The API's FastAPI dependencies: the API key check, a read cursor and the settings.

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


def read_cursor(request: Request) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read cursor. Queries answer from the derived tables as the background refresh left
    them (it trails ingest by about a refresh interval); a request never derives itself, so
    its latency does not grow with ingest."""
    database: ReadableDatabase = request.app.state.database
    with database.reader() as cursor:
        yield cursor


def settings(request: Request) -> ApiSettings:
    configured: ApiSettings = request.app.state.settings
    return configured


Cursor = Annotated[duckdb.DuckDBPyConnection, Depends(read_cursor)]
Settings = Annotated[ApiSettings, Depends(settings)]
