"""The correlation API application: ``create_api_app(database)``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import duckdb
from fastapi import APIRouter, Depends, FastAPI

from tokentrace_backend.alerts import AlertRule, BackendMetrics, DropCounter, SpanCounter
from tokentrace_backend.audit import AuditFollower
from tokentrace_backend.dashboard import install_dashboard
from tokentrace_backend.derived import (
    DEFAULT_INTERVAL_SECONDS,
    BackgroundRefresh,
    IngestActivity,
    RefreshSchedule,
    derived_tables_of,
)
from tokentrace_backend.detect import Detection
from tokentrace_backend.settings import ApiSettings
from tokentrace_backend.storage.database import ReadableDatabase

from . import (
    alerts_router,
    anomalies_router,
    audit_router,
    erasure_router,
    events_router,
    graph_router,
    lifecycle_router,
    metrics_router,
    sessions,
    tokens_router,
    traces_router,
)
from .change_feed import ChangeFeed
from .dependencies import KeyFirst, require_api_key
from .errors import install_error_handlers


def create_api_app(
    database: ReadableDatabase,
    *,
    api_key: str | None = None,
    jaeger_url: str | None = None,
    refresh_interval: float = DEFAULT_INTERVAL_SECONDS,
    ingest_activity: IngestActivity | None = None,
    detection: Detection | None = None,
    span_counter: SpanCounter | None = None,
    alert_rules: Sequence[AlertRule] = (),
    clock: Callable[[], int] = time.time_ns,
    followers: Sequence[Callable[[duckdb.DuckDBPyConnection], object]] = (),
    audit: AuditFollower | None = None,
    dropped_requests: DropCounter | None = None,
    leads: Callable[[], bool] | None = None,
    data_version: Callable[[duckdb.DuckDBPyConnection], int | None] | None = None,
) -> FastAPI:
    """The FastAPI app serving ``/api/*`` and the dashboard at ``/`` (``dashboard``).

    ``api_key`` and ``jaeger_url`` fall back to ``TOKENTRACE_API_KEY`` and
    ``TOKENTRACE_JAEGER_URL``. With a key, every ``/api`` request needs
    ``Authorization: Bearer <key>`` or a dashboard session (``POST /api/session``, open),
    and so do ``/metrics``, ``/openapi.json``, ``/docs`` and ``/redoc``; an unknown ``/api``
    path answers 401 too (``dependencies.KeyFirst``).
    The dashboard's page and assets stay open: they are static.
    ``/api/events`` streams what changed to the dashboard (``change_feed``); the server
    ends those streams with ``app.state.change_feed.close()`` before it stops.

    When the server runs the app's lifespan, a background thread keeps the derived
    per-token tables caught up, every ``refresh_interval`` seconds while there is something
    new. Given the writer as ``ingest_activity``, it follows the writer's pace (see
    ``derived.background``). Requests read the derived tables as that thread leaves them:
    an answer includes every span acknowledged more than about a refresh (well under a
    second at 80 k spans/s, docs/backend.md#freshness) before it. Without the lifespan
    nothing derives: whoever serves the app without it refreshes the tables itself
    (``derived.refresh_derived``). Beside the refresh, a thread of their own runs the
    detectors (``detection``, by default with the default thresholds) over what it derived.

    ``/api/alerts`` shows ``alert_rules`` (the dispatcher runs beside the app, in
    ``server.py``) and their deliveries; ``/metrics`` counts the spans of ``span_counter``
    (the writer) and the export requests ingest dropped (``dropped_requests``) among the
    rest (``alerts.metrics``).

    ``followers`` run after the detectors and the audit follower, in the stages' thread
    beside the refresh (the retention job, ``server.py``; ``derived.background``).

    ``leads`` (lake mode: ``database.leads``) says whether this node runs the refresh,
    the detectors, the audit follower and the ``followers``; every node answers from the
    tables the leader derives. ``data_version`` (``database.data_version``) lets the
    background refresh skip rounds while nothing changed.

    ``clock`` (unix nanoseconds) is the API's now for the lifecycle: the default time of a
    registered event and the instant the lifecycle states are evaluated at.

    ``audit`` (by default one without a signing key) records in the audit trail what the
    refresh and the detectors derived, right after the detectors, and signs checkpoints
    with its key, also when the lifespan ends; the API's own actions are recorded as they
    happen.
    """
    derived = derived_tables_of(database)
    detector = detection or Detection()
    metrics = BackendMetrics(
        database, spans=span_counter, rules=alert_rules, dropped=dropped_requests, leads=leads
    )
    auditor = audit or AuditFollower()
    feed = ChangeFeed()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        schedule = RefreshSchedule(interval=refresh_interval)
        refresher = BackgroundRefresh(
            database,
            derived,
            schedule,
            ingest_activity,
            followers=[metrics.note_refresh],
            stages=[detector.follow, auditor.catch_up, *followers],
            observers=[feed.note],
            leads=leads,
            data_version=data_version,
        )
        refresher.start()
        try:
            yield
        finally:
            feed.close()
            refresher.stop()
            if leads is None or leads():
                with database.reader() as cursor:  # sign what the last rounds recorded
                    auditor.catch_up(cursor)
                    auditor.checkpoint(cursor)

    app = FastAPI(
        title="tokentrace correlation API",
        summary="Which token did what, where it failed, and what it reached.",
        version="1",
        lifespan=lifespan,
    )
    app.state.database = database
    app.state.settings = ApiSettings.resolve(api_key, jaeger_url)
    app.state.clock = clock
    app.state.derived = derived
    app.state.alert_rules = tuple(alert_rules)
    app.state.metrics = metrics
    app.state.audit = auditor
    app.state.ingest_activity = ingest_activity
    app.state.change_feed = feed
    api = APIRouter(prefix="/api", dependencies=[Depends(require_api_key)])
    api.include_router(tokens_router.router)
    api.include_router(graph_router.router)
    api.include_router(traces_router.router)
    api.include_router(anomalies_router.router)
    api.include_router(lifecycle_router.router)
    api.include_router(alerts_router.router)
    api.include_router(audit_router.router)
    api.include_router(erasure_router.router)
    api.include_router(events_router.router)
    app.include_router(sessions.router, prefix="/api")  # open: it is how a browser signs in
    app.include_router(api)
    install_dashboard(app)
    app.include_router(metrics_router.router)
    install_error_handlers(app)
    app.add_middleware(KeyFirst)  # 401 before routing: no 404/405 tells the routes
    return app
