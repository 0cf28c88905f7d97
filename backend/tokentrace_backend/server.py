"""``tokentrace serve`` as a process: OTLP ingest and the correlation API, two HTTP servers
sharing one Database, wired together here (ingest → writer → storage; derived tables and
the API read it), and the alert dispatcher beside them.

Both uvicorn servers run in the same event loop. Signals are handled here rather than by
uvicorn (each uvicorn server would otherwise replace the other's handlers): SIGTERM or
SIGINT asks both servers to stop accepting, waits for in-flight exports to be committed,
drains the writer, checkpoints the database and returns. The alert dispatcher stops first:
an alert in flight stays pending and is sent after the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Generator
from typing import TextIO

import duckdb
import uvicorn

from tokentrace import SettingsError
from tokentrace_backend.alerts import AlertDispatcher, AlertRule, DeliveryPolicy, load_rules
from tokentrace_backend.api import create_api_app
from tokentrace_backend.audit import (
    APPEND_LOCK,
    AuditFollower,
    AuditKeyError,
    RecordKind,
    append_record,
    audit_transaction,
    load_or_create_private_key,
    load_private_key,
    public_key_hex,
)
from tokentrace_backend.derived import derived_tables_of
from tokentrace_backend.detect import Detection
from tokentrace_backend.detect.geoip import CountryLookup
from tokentrace_backend.ingest import (
    TRACES_PATH,
    DecodePool,
    DecoderChoice,
    choose_decoder,
    create_otlp_app,
)
from tokentrace_backend.ingest.counters import IngestCounters
from tokentrace_backend.retention import Retention, RetentionRun
from tokentrace_backend.settings import AuditSettings, ServeSettings
from tokentrace_backend.storage import Database, open_database
from tokentrace_backend.storage.journal import IngestJournal, journal_path
from tokentrace_backend.storage.writer import SpanWriter

logger = logging.getLogger(__name__)


class _QuietSignalsServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to :func:`serve`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def serve(settings: ServeSettings, out: TextIO = sys.stdout) -> None:
    """Run ingest and API until SIGTERM/SIGINT, then flush and close."""
    # A bad rules file stops the start before anything is opened (SettingsError: exit 2).
    rules = load_rules(settings.alerts.rules_path) if settings.alerts.rules_path else ()
    decoder = choose_decoder(settings.ingest.decoder, settings.ingest.decode_workers)
    auditor = _audit_follower(settings)  # a bad key file stops the start too
    database = _open_database(settings)
    APPEND_LOCK.bind(database.cluster_lock("audit-append"))  # lake: shared by the nodes
    journal = IngestJournal(journal_path(settings.db_path)) if settings.ingest.journal else None
    writer = SpanWriter(
        database,
        queue_spans=settings.ingest.queue_spans,
        batch_spans=settings.ingest.writer_batch_spans,
        linger_seconds=settings.ingest.writer_linger_seconds,
        journal=journal,
    )
    writer.start()
    decoders = DecodePool(decoder)
    dispatcher = _alert_dispatcher(database, rules, settings)
    countries = CountryLookup(settings.geoip_db) if settings.geoip_db else None
    leader_work = asyncio.create_task(_when_leading(database, dispatcher.start))
    try:
        decoders.start()
        counters = IngestCounters()
        otlp_app = create_otlp_app(writer, settings.ingest, decoders, counters)
        api_app = create_api_app(
            database,
            api_key=settings.api.api_key or "",
            jaeger_url=settings.api.jaeger_url or "",
            ingest_activity=writer,
            span_counter=writer,
            alert_rules=rules,
            detection=Detection(countries=countries),
            followers=[_retention(database, settings), database.maintain],
            audit=auditor,
            dropped_requests=counters,
            leads=database.leads,
            data_version=database.data_version,
        )
        servers = [
            _QuietSignalsServer(_config(otlp_app, settings.host, settings.otlp_port, "off")),
            # The API's lifespan runs its background refresh of the derived tables.
            _QuietSignalsServer(_config(api_app, settings.host, settings.api_port, "on")),
        ]
        loop = asyncio.get_running_loop()

        def stop() -> None:
            api_app.state.change_feed.close()  # the dashboards' event streams end
            for server in servers:
                server.should_exit = True

        if threading.current_thread() is threading.main_thread():  # embedders run us elsewhere
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop)
        tasks = [asyncio.create_task(server.serve()) for server in servers]
        watchdog = asyncio.create_task(_stop_when_invalidated(database, stop))
        await _announce_when_started(
            servers, tasks, settings, decoder, description=database.describe(), out=out
        )
        if auditor.key is not None:
            print(
                f"audit trail checkpoints signed with Ed25519 public key "
                f"{public_key_hex(auditor.key.public_key())} "
                f"(tokentrace audit public-key exports it)",
                file=out,
                flush=True,
            )
        await asyncio.gather(*tasks)
        if watchdog.done() and watchdog.result():
            raise DatabaseInvalidated(f"{database.describe()}: DuckDB invalidated the database")
        watchdog.cancel()
    finally:
        leader_work.cancel()
        dispatcher.stop()
        if countries is not None:
            countries.close()
        decoders.close()
        writer.close()
        with contextlib.suppress(Exception):
            database.checkpoint()
        database.close()


def _open_database(settings: ServeSettings) -> Database:
    """The embedded DuckDB file, or in lake mode the shared lake."""
    lake = settings.lake
    return open_database(
        settings.db_path,
        lake=None if lake is None else (lake.catalog, lake.data_path),
        memory_limit=settings.duckdb_memory_limit,
        checkpoint_threshold=settings.duckdb_checkpoint_threshold,
        threads=settings.duckdb_threads,
    )


class DatabaseInvalidated(RuntimeError):
    """DuckDB stopped serving the database after a fatal error: the process must restart."""


# How often the server checks that DuckDB still serves the database.
WATCHDOG_SECONDS = 2.0


async def _stop_when_invalidated(database: Database, stop: Callable[[], None]) -> bool:
    """Stop the servers when DuckDB has invalidated the database (a fatal error: DuckLake
    1.5.5 does so when its PostgreSQL catalog goes away in the middle of some statements),
    so that the process exits and its supervisor starts it again; True then."""
    while True:
        await asyncio.sleep(WATCHDOG_SECONDS)
        if await asyncio.to_thread(database.invalidated):
            logger.error("DuckDB invalidated %s; stopping, to be restarted", database.describe())
            stop()
            return True


async def _when_leading(database: Database, start: Callable[[], None]) -> None:
    """Call ``start`` (in a thread) once this process leads: at once for a file, when the
    lake's leader lock is ours for a node."""
    while not await asyncio.to_thread(database.leads):
        await asyncio.sleep(1.0)
    await asyncio.to_thread(start)


def _audit_follower(settings: ServeSettings) -> AuditFollower:
    """The audit follower, with the signing key of ``TOKENTRACE_AUDIT_KEY`` or the one
    beside the database (generated on first start)."""
    audit = settings.audit or AuditSettings.resolve(settings.db_path)
    try:
        if audit.key_given:
            key = load_private_key(audit.key_path)
        else:
            key, _ = load_or_create_private_key(audit.key_path)
    except (AuditKeyError, ValueError) as error:
        raise SettingsError(f"audit key: {error}") from None
    return AuditFollower(key, checkpoint_seconds=audit.checkpoint_seconds)


def _retention(database: Database, settings: ServeSettings) -> Retention:
    """The retention job, run by the API's background refresh after the detectors."""
    return Retention(
        spans=settings.retention.spans,
        rollups=settings.retention.rollups,
        interval_seconds=settings.retention.interval_seconds,
        exclusive=derived_tables_of(database).exclusive,
        report=_audit_retention_run,
    )


def _audit_retention_run(cursor: duckdb.DuckDBPyConnection, run: RetentionRun) -> None:
    """Each retention run that deleted something, in the audit trail."""
    with audit_transaction(cursor):
        append_record(cursor, kind=RecordKind.RETENTION_RUN, token_id=None, body=run.counts())


def _alert_dispatcher(
    database: Database, rules: tuple[AlertRule, ...], settings: ServeSettings
) -> AlertDispatcher:
    alerting = settings.alerts
    policy = DeliveryPolicy(
        attempts=alerting.attempts,
        timeout_seconds=alerting.timeout_seconds,
        backoff_seconds=alerting.backoff_seconds,
        max_backoff_seconds=alerting.max_backoff_seconds,
    )
    return AlertDispatcher(
        database,
        rules,
        policy=policy,
        poll_seconds=alerting.poll_seconds,
        lifecycle_poll_seconds=alerting.lifecycle_poll_seconds,
        thresholds=settings.api.lifecycle,  # the API's: one set of rules for both
    )


def _bound_port(server: uvicorn.Server, requested: int) -> int:
    """The port a server really listens on (differs from the request for port 0)."""
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    return requested


def _config(app: object, host: str, port: int, lifespan: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        lifespan=lifespan,  # type: ignore[arg-type]
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=30,
    )


async def _announce_when_started(
    servers: list[_QuietSignalsServer],
    tasks: list[asyncio.Task[None]],
    settings: ServeSettings,
    decoder: DecoderChoice,
    *,
    description: str,
    out: TextIO,
) -> None:
    """Print the start-up line once both servers listen (or return if one failed)."""
    while not all(server.started for server in servers):
        if any(task.done() for task in tasks):
            for server in servers:
                server.should_exit = True
            return
        await asyncio.sleep(0.02)
    otlp_port = _bound_port(servers[0], settings.otlp_port)
    api_port = _bound_port(servers[1], settings.api_port)
    print(
        f"tokentrace backend ready: OTLP/HTTP on {_url(settings.host, otlp_port)}"
        f"{TRACES_PATH}, API on {_url(settings.host, api_port)}/api "
        f"({description}, {decoder.name} span decoder)",
        file=out,
        flush=True,
    )
