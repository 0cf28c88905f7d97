"""The API's FastAPI dependencies: the API key check, a read cursor, the settings, the
clock and the derived tables.

``/api`` is protected by ``Authorization: Bearer <key>`` when a key is configured,
compared in constant time, or by a dashboard session cookie (``sessions``). The check runs
twice: as the routers' dependency, and before routing (:class:`KeyFirst`), so that an
unknown ``/api`` path or a wrong method answers 401, not 404/405, to a caller without the
key: it learns nothing about the routes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Annotated, Final

import duckdb
from fastapi import Depends, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from tokentrace_backend.bearer import bearer_credentials, key_matches
from tokentrace_backend.derived import DerivedTables
from tokentrace_backend.settings import ApiSettings
from tokentrace_backend.storage.database import ReadableDatabase

from .errors import Unauthorized, api_error_response
from .sessions import authenticated_by_session

logger = logging.getLogger(__name__)

# Open under /api with a key too: the sign-in, how a browser gets a session.
OPEN_API_PATHS: Final = frozenset({"/api/session"})
# Outside /api but closed with a key: the metrics, the schema (it lists every route) and
# its viewers (a browser cannot send the key to them; curl -H can). Readiness probes poll
# the open GET /api/session instead.
CLOSED_PATHS: Final = frozenset(
    {"/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)


def require_api_key(request: Request) -> None:
    """FastAPI dependency: passes when no key is configured or the request presents it,
    in the ``Authorization`` header or as a dashboard session (``sessions``)."""
    settings: ApiSettings = request.app.state.settings
    if settings.api_key is None:
        return
    header = request.headers.get("authorization")
    if header is None and authenticated_by_session(request, settings.api_key):
        return
    presented = bearer_credentials(header)
    if presented is None:
        raise Unauthorized("this API needs Authorization: Bearer <TOKENTRACE_API_KEY>")
    if not key_matches(presented, settings.api_key):
        raise Unauthorized("wrong API key")


def needs_key(path: str) -> bool:
    """Whether a request for ``path`` needs the key (when one is set), route or not."""
    if path in OPEN_API_PATHS:
        return False
    return path == "/api" or path.startswith("/api/") or path in CLOSED_PATHS


class KeyFirst:
    """ASGI middleware: with a key configured, every request :func:`needs_key` covers is
    checked before routing, so a caller without the key gets 401 whether the route
    exists or not."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and needs_key(scope["path"]):
            try:
                require_api_key(Request(scope))
            except Unauthorized as error:
                await api_error_response(error)(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
