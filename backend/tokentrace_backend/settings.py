"""Backend settings as data: every ``TOKENTRACE_*`` variable the backend reads, in one place.

Command-line arguments win; the environment is the fallback; defaults come last. Values
are validated when the settings are built, so a typo fails at start-up, not mid-ingest.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

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
"""Export requests decoded at once (default 16); more answer 503, bounding memory."""
TOKENTRACE_WRITER_BATCH_SPANS: Final = "TOKENTRACE_WRITER_BATCH_SPANS"
"""Most spans the writer commits in one transaction (default 20,000)."""
TOKENTRACE_WRITER_LINGER_MS: Final = "TOKENTRACE_WRITER_LINGER_MS"
"""How long the writer waits for more spans before a commit that is not full (default 0:
it commits whatever is queued as soon as the previous commit ends, so batches grow with
load without adding latency when idle)."""
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
TOKENTRACE_RETRY_AFTER_SECONDS: Final = "TOKENTRACE_RETRY_AFTER_SECONDS"
"""The ``Retry-After`` value sent with 503 (default 1)."""
TOKENTRACE_URL: Final = "TOKENTRACE_URL"
"""API base URL the query commands (``tokentrace tokens|token|errors``) call."""

DEFAULT_DB_PATH: Final = Path("tokentrace.duckdb")
DEFAULT_DUCKDB_MEMORY_LIMIT: Final = "640MB"
_MEMORY_LIMIT: Final = re.compile(r"^\d+(\.\d+)?\s*([KMGT]i?B|B|%)$", re.IGNORECASE)
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_API_PORT: Final = 8318
DEFAULT_OTLP_PORT: Final = 4318
MIB: Final = 1024 * 1024


class SettingsError(ValueError):
    """A setting has a value the backend cannot use."""


@dataclass(frozen=True)
class IngestSettings:
    """How the OTLP receiver and the writer behave."""

    ingest_key: str | None = None
    max_body_bytes: int = 16 * MIB
    queue_spans: int = 200_000
    max_inflight_requests: int = 16
    writer_batch_spans: int = 20_000
    writer_linger_seconds: float = 0.0
    decoder: str = "auto"
    decode_workers: int | None = None  # None: chosen by the decoder (see above)
    retry_after_seconds: int = 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IngestSettings:
        """Settings from the environment (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        return cls(
            ingest_key=env.get(TOKENTRACE_INGEST_KEY) or None,
            max_body_bytes=_positive_int(env, TOKENTRACE_MAX_BODY_BYTES, 16 * MIB),
            queue_spans=_positive_int(env, TOKENTRACE_QUEUE_SPANS, 200_000),
            max_inflight_requests=_positive_int(env, TOKENTRACE_MAX_INFLIGHT_REQUESTS, 16),
            writer_batch_spans=_positive_int(env, TOKENTRACE_WRITER_BATCH_SPANS, 20_000),
            writer_linger_seconds=_positive_int(env, TOKENTRACE_WRITER_LINGER_MS, 0, zero=True)
            / 1000,
            decoder=_choice(env, TOKENTRACE_DECODER, DECODER_CHOICES, "auto"),
            decode_workers=_optional_int(env, TOKENTRACE_DECODE_WORKERS),
            retry_after_seconds=_positive_int(env, TOKENTRACE_RETRY_AFTER_SECONDS, 1),
        )


@dataclass(frozen=True)
class ServeSettings:
    """Everything ``tokentrace serve`` needs to start."""

    db_path: Path
    duckdb_memory_limit: str
    host: str
    api_port: int
    otlp_port: int
    api_key: str | None
    allow_unauthenticated: bool
    ingest: IngestSettings


def duckdb_memory_limit(environ: Mapping[str, str] | None = None) -> str:
    """``TOKENTRACE_DUCKDB_MEMORY_LIMIT`` (validated) or the default."""
    env = os.environ if environ is None else environ
    value = (env.get(TOKENTRACE_DUCKDB_MEMORY_LIMIT) or DEFAULT_DUCKDB_MEMORY_LIMIT).strip()
    if not _MEMORY_LIMIT.match(value):
        raise SettingsError(
            f"{TOKENTRACE_DUCKDB_MEMORY_LIMIT} must be a size such as 640MB or 2GiB, "
            f"or a percentage such as 25%, got {value!r}"
        )
    return value


def default_db_path(environ: Mapping[str, str] | None = None) -> Path:
    """``TOKENTRACE_DB`` or ``./tokentrace.duckdb``."""
    env = os.environ if environ is None else environ
    value = env.get(TOKENTRACE_DB)
    return Path(value) if value else DEFAULT_DB_PATH


DECODER_CHOICES: Final = ("auto", "native", "python")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


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
