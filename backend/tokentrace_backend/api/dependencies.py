"""The API's FastAPI dependencies: the API key check, a read cursor, the settings, the
clock and the derived tables.

``/api`` is protected by ``Authorization: Bearer <key>`` when a key is configured,
compared in constant time, or by a dashboard session cookie (``sessions``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Annotated

import duckdb
from fastapi import Depends, Request

from tokentrace_backend.derived import DerivedTables
from tokentrace_backend.settings import ApiSettings
from tokentrace_backend.storage.database import ReadableDatabase

from .errors import Unauthorized
from .sessions import authenticated_by_session, key_matches

logger = logging.getLogger(__name__)


def require_api_key(request: Request) -> None:
    """FastAPI dependency: passes when no key is configured or the request presents it,
    in the ``Authorization`` header or as a dashboard session (``sessions``)."""
    settings: ApiSettings = request.app.state.settings
    if settings.api_key is None:
        return
    header = request.headers.get("authorization")
    if header is None and authenticated_by_session(request, settings.api_key):
        return
    scheme, _, presented = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise Unauthorized("this API needs Authorization: Bearer <TOKENTRACE_API_KEY>")
    if not key_matches(presented.strip(), settings.api_key):
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


def now_ns(request: Request) -> int:
    """Now, in unix nanoseconds, by the app's clock (``create_api_app(clock=...)``)."""
    clock: Callable[[], int] = request.app.state.clock
    return clock()


def derived_tables(request: Request) -> DerivedTables:
    """The database's :class:`DerivedTables`, for the few writes the API asks of
    ``derived/`` (a registered lifecycle event)."""
    derived: DerivedTables = request.app.state.derived
    return derived


Cursor = Annotated[duckdb.DuckDBPyConnection, Depends(read_cursor)]
Settings = Annotated[ApiSettings, Depends(settings)]
NowNs = Annotated[int, Depends(now_ns)]
Derived = Annotated[DerivedTables, Depends(derived_tables)]
