"""Backend settings as data: every ``TOKENTRACE_*`` variable the backend reads, in one place.

Command-line arguments win; the environment is the fallback; defaults come last. Values
are validated when the settings are built, so a typo fails at start-up, not mid-ingest.
No stage of the backend reads the environment itself (the scenario, a client of the
backend, reads its own seed and the hash key as any app does). A bad value raises
:class:`tokentrace.SettingsError`, the library's own, so that one error means "bad setting"
everywhere.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from tokentrace import SettingsError

# --- environment variable names (the documented interface) ---------------------------------
TOKENTRACE_DB: Final = "TOKENTRACE_DB"
"""Path of the DuckDB file (default ``./tokentrace.duckdb``)."""
TOKENTRACE_API_KEY: Final = "TOKENTRACE_API_KEY"
"""Bearer key that protects ``/api``; required to bind a non-loopback address."""
TOKENTRACE_INGEST_KEY: Final = "TOKENTRACE_INGEST_KEY"
"""When set, ``POST /v1/traces`` needs ``Authorization: Bearer <key>``."""
TOKENTRACE_JAEGER_URL: Final = "TOKENTRACE_JAEGER_URL"
"""Base URL of the Jaeger UI, for trace links in API answers."""
TOKENTRACE_MAX_BODY_BYTES: Final = "TOKENTRACE_MAX_BODY_BYTES"
"""Largest accepted export request after decompression (default 16 MiB) → 413 above."""
TOKENTRACE_QUEUE_SPANS: Final = "TOKENTRACE_QUEUE_SPANS"
"""Spans that may wait for the writer (default 200,000); a full queue answers 503."""
TOKENTRACE_MAX_INFLIGHT_REQUESTS: Final = "TOKENTRACE_MAX_INFLIGHT_REQUESTS"
"""Export requests whose body has been read and that are being decoded or wait for the
writer (default 16); more answer 503, bounding memory. A request still receiving its body
does not count: a slow or stalled client holds no slot of the well-behaved ones."""
TOKENTRACE_MAX_BUFFERED_BYTES: Final = "TOKENTRACE_MAX_BUFFERED_BYTES"
"""Body bytes that requests may hold at once while they are read and decoded (default
256 MiB, 16 bodies of the largest size); a chunk that would exceed it answers 503."""
TOKENTRACE_MAX_REQUESTS_PER_CLIENT: Final = "TOKENTRACE_MAX_REQUESTS_PER_CLIENT"
"""Export requests one client address may have open at once, reading included (default
32); more answer 503 with Retry-After."""
TOKENTRACE_BODY_TIMEOUT_MS: Final = "TOKENTRACE_BODY_TIMEOUT_MS"
"""How long a request's whole body may take to arrive (default 30,000, the collector's
own export timeout); a slower one is dropped with 408 and counted in ``/metrics``."""
TOKENTRACE_ALLOW_UNAUTHENTICATED_INGEST: Final = "TOKENTRACE_ALLOW_UNAUTHENTICATED_INGEST"
"""``true`` lets ``serve`` take OTLP on a non-loopback address without
``TOKENTRACE_INGEST_KEY`` (like ``--allow-unauthenticated``, which allows both ports)."""
TOKENTRACE_WRITER_BATCH_SPANS: Final = "TOKENTRACE_WRITER_BATCH_SPANS"
"""Most spans the writer commits in one transaction (default 20,000)."""
TOKENTRACE_WRITER_LINGER_MS: Final = "TOKENTRACE_WRITER_LINGER_MS"
"""How long a queued request may wait for others to share its DuckDB commit (default 100
with the journal: requests are acknowledged once journaled, so the wait only delays when
their spans can be queried; 0 without it: commit whatever is queued as soon as the previous
commit ends)."""
TOKENTRACE_INGEST_JOURNAL: Final = "TOKENTRACE_INGEST_JOURNAL"
"""``false`` turns the ingest journal off: each request is then acknowledged only once
DuckDB has committed it (default true: acknowledged once its rows are synced to the journal,
``<db>.journal/`` beside the DuckDB file, and committed to DuckDB in large groups behind
it; see storage/journal.py)."""
TOKENTRACE_DECODER: Final = "TOKENTRACE_DECODER"
"""Which span decoder ingest uses: ``native`` (the compiled ``tokentrace-otlp-native``
package), ``python``, or ``auto`` (the default: native when it is installed)."""
TOKENTRACE_DECODE_WORKERS: Final = "TOKENTRACE_DECODE_WORKERS"
"""Processes that decode export requests. By default 0 with the native decoder (it releases
the GIL, so threads of the server decode in parallel) and 2 with the Python one (on the
2-core reference machine 2 beat 1 by 10-30 % in interleaved runs, for ~150 MiB more RSS;
in threads it would compete with the DuckDB writer for the GIL)."""
TOKENTRACE_DUCKDB_MEMORY_LIMIT: Final = "TOKENTRACE_DUCKDB_MEMORY_LIMIT"
"""DuckDB's memory limit (default 640MB; DuckDB's own units: KB, MB, GB, KiB, ..., or a
percentage of RAM). Without one DuckDB may use 80 % of RAM: measured, the catch-up of the
derived tables after a 1.5 M-span burst took the server from 554 MiB to 1.3 GiB; with
640MB it stays under 700 MiB, spilling to ``<db>.tmp`` instead."""
TOKENTRACE_DUCKDB_CHECKPOINT_THRESHOLD: Final = "TOKENTRACE_DUCKDB_CHECKPOINT_THRESHOLD"
"""How much write-ahead log makes a commit checkpoint it into the file (default 128MB;
DuckDB's own default is 16MB). Checkpoints compress and write whole row groups and stall the
writer while they run; measured in process (1.5 M spans, the writer alone), 16MB held the
writer to 143 k spans/s, 64MB let it reach 213 k and 128MB 251 k with the final
checkpoint, and the file came out 44-45 instead of 52 bytes per span. At 80 k spans/s
sustained, 128MB gave a freshness lag p99 of 2.0-2.6 s against 2.9 s for 32MB
(docs/backend.md#freshness). A larger log replays longer after a crash and keeps more rows
in memory."""
TOKENTRACE_DUCKDB_THREADS: Final = "TOKENTRACE_DUCKDB_THREADS"
"""Threads DuckDB runs a statement on (default 1). While ingest keeps every core busy,
parallel workers only add overhead: measured at 80 k spans/s, one thread took the server
from 22.1 to 19.2 µs of CPU per span. Queries stay within their targets on one thread
(token summary over 10 M spans 40.6 ms, global map 245 ms); a machine with spare cores
may raise it for faster scans."""
TOKENTRACE_RETRY_AFTER_SECONDS: Final = "TOKENTRACE_RETRY_AFTER_SECONDS"
"""The ``Retry-After`` value sent with 503 (default 1)."""
TOKENTRACE_URL: Final = "TOKENTRACE_URL"
"""API base URL the query commands (``tokentrace tokens|token|errors``) call."""
TOKENTRACE_EXPIRING_SOON_DAYS: Final = "TOKENTRACE_EXPIRING_SOON_DAYS"
"""A token in use whose known expiry is this close is ``expiring_soon`` (default 7)."""
TOKENTRACE_IN_USE_HOURS: Final = "TOKENTRACE_IN_USE_HOURS"
"""A token is in use while its last request is this recent (default 24): it decides
``expiring_soon`` and ``rotated_still_used``, and a rotation is complete once the old token
has been quiet this long."""
TOKENTRACE_STALE_DAYS: Final = "TOKENTRACE_STALE_DAYS"
"""A live token unused this long is ``stale`` (default 30)."""
TOKENTRACE_CLIENT_IP: Final = "TOKENTRACE_CLIENT_IP"
"""What is stored of client addresses, like ``serve --client-ip``: ``keep`` (default),
``truncate`` (an IPv4 address's /24 network address, an IPv6 one's /48) or ``drop``, for
the ``client_address`` column and every address attribute (docs/retention.md)."""
TOKENTRACE_RETENTION: Final = "TOKENTRACE_RETENTION"
"""How long raw spans and the derived rows are kept, by event time, like ``serve
--retention`` (default ``14d``; units ``w``, ``d``, ``h``, ``m``, ``s``; docs/retention.md)."""
TOKENTRACE_ROLLUP_RETENTION: Final = "TOKENTRACE_ROLLUP_RETENTION"
"""How long the daily per-token roll-ups are kept, like ``serve --rollup-retention``
(default ``400d``; at least the raw retention)."""
TOKENTRACE_GEOIP_DB: Final = "TOKENTRACE_GEOIP_DB"
"""Path of a MaxMind-format database (GeoLite2 / GeoIP2 Country or City ``.mmdb``): the
new-network findings then name the client address's country. None ships with tokentrace."""
TOKENTRACE_ALERTS: Final = "TOKENTRACE_ALERTS"
"""Path of the alert rules file (TOML, docs/alerts.md); ``serve --alerts FILE`` wins.
Without one no alert is sent (findings are still marked as seen, so a rules file added
later alerts on what is found from then on, not on the backlog)."""
TOKENTRACE_ALERT_ATTEMPTS: Final = "TOKENTRACE_ALERT_ATTEMPTS"
"""Attempts per alert delivery, the first included (default 5); then it is recorded failed."""
TOKENTRACE_ALERT_TIMEOUT_MS: Final = "TOKENTRACE_ALERT_TIMEOUT_MS"
"""Deadline of one webhook attempt, connecting to reading the answer (default 10,000)."""
TOKENTRACE_ALERT_BACKOFF_MS: Final = "TOKENTRACE_ALERT_BACKOFF_MS"
"""Wait before the first retry of a delivery (default 1,000); each further retry waits twice
the previous one, at most ``ALERT_MAX_BACKOFF_SECONDS``."""
TOKENTRACE_ALERT_POLL_MS: Final = "TOKENTRACE_ALERT_POLL_MS"
"""How often the alert dispatcher looks for new findings (default 1,000)."""
TOKENTRACE_ALERT_LIFECYCLE_POLL_MS: Final = "TOKENTRACE_ALERT_LIFECYCLE_POLL_MS"
"""How often the alert dispatcher evaluates the lifecycle states of every token, for the
rules of ``lifecycle_states`` (default 60,000: the states change over hours and days, and
one evaluation reads every token's latest request: 70-125 ms over the 10 M-span
benchmark database, 10,000 tokens and 1.8 M requests)."""

TOKENTRACE_AUDIT_KEY: Final = "TOKENTRACE_AUDIT_KEY"
"""Path of the Ed25519 key that signs the audit trail's checkpoints (PEM PKCS#8, or the 32
raw bytes; docs/audit.md). It must exist. Unset: ``<db>.audit-key`` beside the database,
generated (mode 0600) on first start."""
TOKENTRACE_AUDIT_CHECKPOINT_SECONDS: Final = "TOKENTRACE_AUDIT_CHECKPOINT_SECONDS"
"""How often the server signs a checkpoint of the audit trail while records arrive
(default 60), and always when it stops."""

TOKENTRACE_CATALOG: Final = "TOKENTRACE_CATALOG"
"""Lake mode: the PostgreSQL catalog (``postgresql://USER@HOST:PORT/DB``) of a DuckLake that
several ``tokentrace serve`` nodes share, with ``TOKENTRACE_DATA_PATH`` (docs/production.md)."""
TOKENTRACE_DATA_PATH: Final = "TOKENTRACE_DATA_PATH"
"""Lake mode: the directory, shared by the nodes, that holds the lake's Parquet files."""

DEFAULT_DB_PATH: Final = Path("tokentrace.duckdb")
LAKE_AUDIT_KEY_NAME: Final = "tokentrace"
CATALOG_SCHEMES: Final = ("postgresql", "postgres")  # <data path>/tokentrace.audit-key in lake mode
AUDIT_KEY_SUFFIX: Final = ".audit-key"
DECODER_CHOICES: Final = ("auto", "native", "python")
CLIENT_IP_CHOICES: Final = ("keep", "truncate", "drop")
DEFAULT_RETENTION: Final = "14d"
DEFAULT_ROLLUP_RETENTION: Final = "400d"
RETENTION_INTERVAL_SECONDS: Final = 60.0
_DURATION: Final = re.compile(r"^\s*(\d+)\s*([wdhms])\s*$")
_DURATION_UNITS: Final = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
DEFAULT_DUCKDB_MEMORY_LIMIT: Final = "640MB"
DEFAULT_DUCKDB_CHECKPOINT_THRESHOLD: Final = "128MB"
DEFAULT_DUCKDB_THREADS: Final = 1
_DUCKDB_SIZE: Final = re.compile(r"^\d+(\.\d+)?\s*([KMGT]i?B|B)$", re.IGNORECASE)
_DUCKDB_SIZE_OR_SHARE: Final = re.compile(r"^\d+(\.\d+)?\s*([KMGT]i?B|B|%)$", re.IGNORECASE)
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_API_PORT: Final = 8318
DEFAULT_OTLP_PORT: Final = 4318
MIB: Final = 1024 * 1024
DEFAULT_API_URL: Final = f"http://{DEFAULT_HOST}:{DEFAULT_API_PORT}"
ALERT_MAX_BACKOFF_SECONDS: Final = 300.0


@dataclass(frozen=True)
class IngestSettings:
    """How the OTLP receiver and the writer behave."""

    ingest_key: str | None = None
    max_body_bytes: int = 16 * MIB
    queue_spans: int = 200_000
    max_inflight_requests: int = 16
    max_buffered_bytes: int = 256 * MIB
    max_requests_per_client: int = 32
    body_timeout_seconds: float = 30.0
    writer_batch_spans: int = 20_000
    writer_linger_seconds: float | None = None  # None: the writer's default (see above)
    journal: bool = True
    decoder: str = "auto"
    decode_workers: int | None = None  # None: chosen by the decoder (see above)
    retry_after_seconds: int = 1
    client_ip: str = "keep"  # CLIENT_IP_CHOICES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IngestSettings:
        """Settings from the environment (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        return cls(
            ingest_key=env.get(TOKENTRACE_INGEST_KEY) or None,
            max_body_bytes=_positive_int(env, TOKENTRACE_MAX_BODY_BYTES, 16 * MIB),
            queue_spans=_positive_int(env, TOKENTRACE_QUEUE_SPANS, 200_000),
            max_inflight_requests=_positive_int(env, TOKENTRACE_MAX_INFLIGHT_REQUESTS, 16),
            max_buffered_bytes=_positive_int(env, TOKENTRACE_MAX_BUFFERED_BYTES, 256 * MIB),
            max_requests_per_client=_positive_int(env, TOKENTRACE_MAX_REQUESTS_PER_CLIENT, 32),
            body_timeout_seconds=_positive_int(env, TOKENTRACE_BODY_TIMEOUT_MS, 30_000) / 1000,
            writer_batch_spans=_positive_int(env, TOKENTRACE_WRITER_BATCH_SPANS, 20_000),
            writer_linger_seconds=_optional_milliseconds(env, TOKENTRACE_WRITER_LINGER_MS),
            journal=_flag(env, TOKENTRACE_INGEST_JOURNAL, default=True),
            decoder=_choice(env, TOKENTRACE_DECODER, DECODER_CHOICES, "auto"),
            decode_workers=_optional_int(env, TOKENTRACE_DECODE_WORKERS),
            retry_after_seconds=_positive_int(env, TOKENTRACE_RETRY_AFTER_SECONDS, 1),
            client_ip=_choice(env, TOKENTRACE_CLIENT_IP, CLIENT_IP_CHOICES, "keep"),
        )


@dataclass(frozen=True)
class LifecycleSettings:
    """The thresholds of a token's lifecycle states (``GET /api/tokens/{id}/lifecycle``,
    the summary's ``rotated_still_used``, the alerts on lifecycle states; docs/api.md has
    the rules)."""

    expiring_within: timedelta = timedelta(days=7)
    in_use_within: timedelta = timedelta(hours=24)
    stale_after: timedelta = timedelta(days=30)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LifecycleSettings:
        env = os.environ if environ is None else environ
        return cls(
            expiring_within=timedelta(days=_positive_int(env, TOKENTRACE_EXPIRING_SOON_DAYS, 7)),
            in_use_within=timedelta(hours=_positive_int(env, TOKENTRACE_IN_USE_HOURS, 24)),
            stale_after=timedelta(days=_positive_int(env, TOKENTRACE_STALE_DAYS, 30)),
        )


@dataclass(frozen=True)
class ApiSettings:
    """How the correlation API answers: its key, where Jaeger links point, and the
    thresholds of the lifecycle states."""

    api_key: str | None = None
    jaeger_url: str | None = None
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)

    @classmethod
    def resolve(
        cls,
        api_key: str | None = None,
        jaeger_url: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ApiSettings:
        """Arguments first, then ``TOKENTRACE_API_KEY`` / ``TOKENTRACE_JAEGER_URL``; the
        lifecycle thresholds from the environment.

        An empty string argument means "none", without looking at the environment.
        """
        env = os.environ if environ is None else environ
        if api_key is None:
            api_key = env.get(TOKENTRACE_API_KEY)
        if jaeger_url is None:
            jaeger_url = env.get(TOKENTRACE_JAEGER_URL)
        return cls(
            api_key=api_key or None,
            jaeger_url=jaeger_url.rstrip("/") if jaeger_url else None,
            lifecycle=LifecycleSettings.from_env(env),
        )


@dataclass(frozen=True)
class AlertSettings:
    """Where the alert rules are and how webhooks are called (alerts/)."""

    rules_path: Path | None = None
    attempts: int = 5
    timeout_seconds: float = 10.0
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = ALERT_MAX_BACKOFF_SECONDS
    poll_seconds: float = 1.0
    lifecycle_poll_seconds: float = 60.0

    @classmethod
    def resolve(
        cls, rules_path: Path | None = None, environ: Mapping[str, str] | None = None
    ) -> AlertSettings:
        """``rules_path`` (``--alerts``) first, then ``TOKENTRACE_ALERTS``; the delivery
        settings from the environment. The rules file itself is read and validated when
        the server starts (``alerts.load_rules``)."""
        env = os.environ if environ is None else environ
        if rules_path is None and env.get(TOKENTRACE_ALERTS):
            rules_path = Path(env[TOKENTRACE_ALERTS])
        return cls(
            rules_path=rules_path,
            attempts=_positive_int(env, TOKENTRACE_ALERT_ATTEMPTS, 5),
            timeout_seconds=_positive_int(env, TOKENTRACE_ALERT_TIMEOUT_MS, 10_000) / 1000,
            backoff_seconds=_positive_int(env, TOKENTRACE_ALERT_BACKOFF_MS, 1_000, zero=True)
            / 1000,
            poll_seconds=_positive_int(env, TOKENTRACE_ALERT_POLL_MS, 1_000) / 1000,
            lifecycle_poll_seconds=_positive_int(env, TOKENTRACE_ALERT_LIFECYCLE_POLL_MS, 60_000)
            / 1000,
        )


@dataclass(frozen=True)
class RetentionSettings:
    """How long what is stored is kept (retention/, docs/retention.md): raw spans and the
    rows derived from them for ``spans``, the daily per-token roll-ups for ``rollups``; the
    job runs at most every ``interval_seconds``."""

    spans: timedelta = timedelta(days=14)
    rollups: timedelta = timedelta(days=400)
    interval_seconds: float = RETENTION_INTERVAL_SECONDS

    @classmethod
    def resolve(
        cls,
        spans: str | None = None,
        rollups: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> RetentionSettings:
        """``--retention`` / ``--rollup-retention`` first, then ``TOKENTRACE_RETENTION`` /
        ``TOKENTRACE_ROLLUP_RETENTION``, then the defaults (14d, 400d)."""
        env = os.environ if environ is None else environ
        raw = duration(
            spans or env.get(TOKENTRACE_RETENTION) or DEFAULT_RETENTION,
            "--retention" if spans else TOKENTRACE_RETENTION,
        )
        kept = duration(
            rollups or env.get(TOKENTRACE_ROLLUP_RETENTION) or DEFAULT_ROLLUP_RETENTION,
            "--rollup-retention" if rollups else TOKENTRACE_ROLLUP_RETENTION,
        )
        if kept < raw:
            raise SettingsError(
                f"the roll-up retention ({kept}) must be at least the span retention ({raw})"
            )
        return cls(spans=raw, rollups=kept)


def duration(text: str, name: str) -> timedelta:
    """``'2w'``, ``'14d'``, ``'36h'``, ``'90m'`` or ``'600s'`` as a timedelta (more than
    zero; the units of the API's ``since``)."""
    match = _DURATION.match(text)
    if match is None or int(match.group(1)) == 0:
        raise SettingsError(f"{name} must be a duration such as 14d, 36h or 90m, got {text!r}")
    return timedelta(seconds=int(match.group(1)) * _DURATION_UNITS[match.group(2)])


@dataclass(frozen=True)
class AuditSettings:
    """Where the audit trail's signing key is, and how often checkpoints are signed."""

    key_path: Path
    key_given: bool = False  # TOKENTRACE_AUDIT_KEY: must exist, never generated
    checkpoint_seconds: float = 60.0

    @classmethod
    def resolve(cls, db_path: Path, environ: Mapping[str, str] | None = None) -> AuditSettings:
        """``TOKENTRACE_AUDIT_KEY`` (an existing file) or ``<db>.audit-key``."""
        env = os.environ if environ is None else environ
        given = env.get(TOKENTRACE_AUDIT_KEY)
        if given and not Path(given).is_file():
            raise SettingsError(f"{TOKENTRACE_AUDIT_KEY}: no such file: {given}")
        return cls(
            key_path=Path(given) if given else audit_key_path(db_path),
            key_given=bool(given),
            checkpoint_seconds=float(_positive_int(env, TOKENTRACE_AUDIT_CHECKPOINT_SECONDS, 60)),
        )


def audit_key_path(db_path: Path) -> Path:
    """``<db>.audit-key``: the generated signing key's place, beside the database."""
    return Path(db_path).with_name(Path(db_path).name + AUDIT_KEY_SUFFIX)


@dataclass(frozen=True)
class LakeSettings:
    """Lake mode's catalog URL (PostgreSQL) and data path (a shared directory)."""

    catalog: str
    data_path: str

    @classmethod
    def resolve(
        cls,
        catalog: str | None = None,
        data_path: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> LakeSettings | None:
        """``--catalog`` / ``--data-path`` first, then ``TOKENTRACE_CATALOG`` /
        ``TOKENTRACE_DATA_PATH``; None (embedded mode) when neither is set."""
        env = os.environ if environ is None else environ
        catalog = catalog or env.get(TOKENTRACE_CATALOG) or None
        data_path = data_path or env.get(TOKENTRACE_DATA_PATH) or None
        if catalog is None and data_path is None:
            return None
        if catalog is None or data_path is None:
            raise SettingsError(
                f"lake mode needs both --catalog ({TOKENTRACE_CATALOG}) and --data-path "
                f"({TOKENTRACE_DATA_PATH})"
            )
        parts = urlsplit(catalog)
        if parts.scheme not in CATALOG_SCHEMES or not parts.hostname or not parts.path.strip("/"):
            raise SettingsError(
                f"--catalog ({TOKENTRACE_CATALOG}) must be a PostgreSQL URL such as "
                "postgresql://USER@HOST:PORT/DATABASE"
            )
        if "'" in catalog or "'" in data_path:
            raise SettingsError("--catalog and --data-path may not contain quotes")
        if "://" in data_path:
            raise SettingsError(
                f"--data-path ({TOKENTRACE_DATA_PATH}) must be a directory: object storage "
                "URLs are not supported by this build (docs/production.md)"
            )
        return cls(catalog=catalog, data_path=data_path)

    @property
    def audit_key_base(self) -> Path:
        """What the audit key's default path is beside (``audit_key_path``): the lake's
        ``<data path>/tokentrace.audit-key`` is shared by every node."""
        return Path(self.data_path) / LAKE_AUDIT_KEY_NAME


@dataclass(frozen=True)
class ServeSettings:
    """Everything ``tokentrace serve`` needs to start."""

    db_path: Path
    duckdb_memory_limit: str
    duckdb_checkpoint_threshold: str
    duckdb_threads: int
    host: str
    api_port: int
    otlp_port: int
    api: ApiSettings
    ingest: IngestSettings
    alerts: AlertSettings = field(default_factory=AlertSettings)
    geoip_db: Path | None = None
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    audit: AuditSettings | None = None  # None: <db>.audit-key, by default
    lake: LakeSettings | None = None  # lake mode: the tables in a shared DuckLake

    @classmethod
    def resolve(
        cls,
        *,
        db_path: Path | None = None,
        host: str = DEFAULT_HOST,
        api_port: int = DEFAULT_API_PORT,
        otlp_port: int = DEFAULT_OTLP_PORT,
        allow_unauthenticated: bool = False,
        alerts_path: Path | None = None,
        client_ip: str | None = None,
        retention: str | None = None,
        rollup_retention: str | None = None,
        catalog: str | None = None,
        data_path: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ServeSettings:
        """Validated settings from the command line's values and the environment.

        Serving the API on a non-loopback address without ``TOKENTRACE_API_KEY`` is refused
        unless ``allow_unauthenticated``; so is taking OTLP there without
        ``TOKENTRACE_INGEST_KEY``, unless ``allow_unauthenticated`` or
        ``TOKENTRACE_ALLOW_UNAUTHENTICATED_INGEST`` (the API may have a key while ingest,
        say behind a collector on a private network, deliberately has none).
        """
        env = os.environ if environ is None else environ
        api = ApiSettings.resolve(environ=environ)
        if not is_loopback(host) and api.api_key is None and not allow_unauthenticated:
            raise SettingsError(
                f"refusing to serve the API on non-loopback address {host} without "
                f"{TOKENTRACE_API_KEY}: set it, or pass --allow-unauthenticated"
            )
        ingest = _ingest_settings(environ, client_ip)
        lake = LakeSettings.resolve(catalog, data_path, environ)
        if lake is not None:  # a node acknowledges what the lake holds: no local journal
            ingest = replace(ingest, journal=False)
        if (
            not is_loopback(host)
            and ingest.ingest_key is None
            and not allow_unauthenticated
            and not _flag(env, TOKENTRACE_ALLOW_UNAUTHENTICATED_INGEST, default=False)
        ):
            raise SettingsError(
                f"refusing to take OTLP on non-loopback address {host} without "
                f"{TOKENTRACE_INGEST_KEY} (anyone could write spans): set it, or set "
                f"{TOKENTRACE_ALLOW_UNAUTHENTICATED_INGEST}=true, or pass "
                "--allow-unauthenticated"
            )
        for flag, port in (("--port", api_port), ("--otlp-port", otlp_port)):
            if not 0 <= port <= 65535:
                raise SettingsError(f"{flag} must be a port number, got {port}")
        return cls(
            db_path=db_path if db_path is not None else default_db_path(environ),
            duckdb_memory_limit=duckdb_memory_limit(environ),
            duckdb_checkpoint_threshold=_duckdb_size(
                environ,
                TOKENTRACE_DUCKDB_CHECKPOINT_THRESHOLD,
                DEFAULT_DUCKDB_CHECKPOINT_THRESHOLD,
                _DUCKDB_SIZE,
                "a size such as 128MB or 1GiB",
            ),
            duckdb_threads=_positive_int(
                os.environ if environ is None else environ,
                TOKENTRACE_DUCKDB_THREADS,
                DEFAULT_DUCKDB_THREADS,
            ),
            host=host,
            api_port=api_port,
            otlp_port=otlp_port,
            api=api,
            ingest=ingest,
            alerts=AlertSettings.resolve(alerts_path, environ),
            geoip_db=_geoip_db(os.environ if environ is None else environ),
            retention=RetentionSettings.resolve(retention, rollup_retention, environ),
            audit=AuditSettings.resolve(
                lake.audit_key_base if lake is not None else db_path or default_db_path(environ),
                environ,
            ),
            lake=lake,
        )


def _ingest_settings(environ: Mapping[str, str] | None, client_ip: str | None) -> IngestSettings:
    """The environment's ingest settings, ``--client-ip`` winning over its variable."""
    ingest = IngestSettings.from_env(environ)
    if client_ip is None:
        return ingest
    if client_ip not in CLIENT_IP_CHOICES:
        raise SettingsError(
            f"--client-ip must be one of {', '.join(CLIENT_IP_CHOICES)}, got {client_ip!r}"
        )
    return replace(ingest, client_ip=client_ip)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_url(environ: Mapping[str, str] | None = None) -> str:
    """The API the query commands call: ``TOKENTRACE_URL`` or the local default."""
    env = os.environ if environ is None else environ
    return env.get(TOKENTRACE_URL) or DEFAULT_API_URL


def duckdb_memory_limit(environ: Mapping[str, str] | None = None) -> str:
    """``TOKENTRACE_DUCKDB_MEMORY_LIMIT`` (validated) or the default."""
    return _duckdb_size(
        environ,
        TOKENTRACE_DUCKDB_MEMORY_LIMIT,
        DEFAULT_DUCKDB_MEMORY_LIMIT,
        _DUCKDB_SIZE_OR_SHARE,
        "a size such as 640MB or 2GiB, or a percentage such as 25%",
    )


def _duckdb_size(
    environ: Mapping[str, str] | None,
    name: str,
    default: str,
    pattern: re.Pattern[str],
    expected: str,
) -> str:
    env = os.environ if environ is None else environ
    value = (env.get(name) or default).strip()
    if not pattern.match(value):
        raise SettingsError(f"{name} must be {expected}, got {value!r}")
    return value


def default_db_path(environ: Mapping[str, str] | None = None) -> Path:
    """``TOKENTRACE_DB`` or ``./tokentrace.duckdb``."""
    env = os.environ if environ is None else environ
    value = env.get(TOKENTRACE_DB)
    return Path(value) if value else DEFAULT_DB_PATH


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _optional_milliseconds(env: Mapping[str, str], name: str) -> float | None:
    value = _optional_int(env, name)
    return None if value is None else value / 1000


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = (env.get(name) or "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {value!r}")


def _optional_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    return _positive_int(env, name, 0, zero=True)


def _positive_int(env: Mapping[str, str], name: str, default: int, *, zero: bool = False) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < 0 or (value == 0 and not zero):
        raise SettingsError(f"{name} must be {'>= 0' if zero else '> 0'}, got {value}")
    return value


def _geoip_db(env: Mapping[str, str]) -> Path | None:
    """``TOKENTRACE_GEOIP_DB``: an existing file, or None when unset."""
    value = env.get(TOKENTRACE_GEOIP_DB)
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise SettingsError(f"{TOKENTRACE_GEOIP_DB}: no such file: {path}")
    return path
