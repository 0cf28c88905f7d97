"""The correlation API application: ``create_api_app(database)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from tokentrace_backend.derived import (
    DEFAULT_INTERVAL_SECONDS,
    BackgroundRefresh,
    IngestActivity,
    RefreshSchedule,
    derived_tables_of,
)
from tokentrace_backend.settings import ApiSettings
from tokentrace_backend.storage.database import ReadableDatabase

from . import graph_router, tokens_router, traces_router
from .dependencies import require_api_key
from .errors import install_error_handlers


def create_api_app(
    database: ReadableDatabase,
    *,
    api_key: str | None = None,
    jaeger_url: str | None = None,
    refresh_interval: float = DEFAULT_INTERVAL_SECONDS,
    ingest_activity: IngestActivity | None = None,
) -> FastAPI:
    """The FastAPI app serving ``/api/*`` (and ``/openapi.json``, always open).

    ``api_key`` and ``jaeger_url`` fall back to ``TOKENTRACE_API_KEY`` and
    ``TOKENTRACE_JAEGER_URL``. With a key, every ``/api`` request needs
    ``Authorization: Bearer <key>``. Other routes (a dashboard, say) can be added to the
    returned app.

    When the server runs the app's lifespan, a background thread keeps the derived
    per-token tables caught up, every ``refresh_interval`` seconds while there is something
    new. Given the writer as ``ingest_activity``, it follows the writer's pace (see
    ``derived.background``). Requests read the derived tables as that thread leaves them:
    an answer includes every span acknowledged more than about a refresh (well under a
    second at 80 k spans/s, docs/backend.md#freshness) before it. Without the lifespan
    nothing derives: whoever serves the app without it refreshes the tables itself
    (``derived.refresh_derived``).
    """
    derived = derived_tables_of(database)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        schedule = RefreshSchedule(interval=refresh_interval)
        refresher = BackgroundRefresh(database, derived, schedule, ingest_activity)
        refresher.start()
        try:
            yield
        finally:
            refresher.stop()

    app = FastAPI(
        title="tokentrace correlation API",
        summary="Which token did what, where it failed, and what it reached.",
        version="1",
        lifespan=lifespan,
    )
    app.state.database = database
    app.state.settings = ApiSettings.resolve(api_key, jaeger_url)
    api = APIRouter(prefix="/api", dependencies=[Depends(require_api_key)])
    api.include_router(tokens_router.router)
    api.include_router(graph_router.router)
    api.include_router(traces_router.router)
    app.include_router(api)
    install_error_handlers(app)
    return app
