"""``tokentrace serve``: the backend (OTLP ingest + correlation API) in one process."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from tokentrace import SettingsError
from tokentrace.cli import Subparsers
from tokentrace_backend.settings import (
    CLIENT_IP_CHOICES,
    DEFAULT_API_PORT,
    DEFAULT_HOST,
    DEFAULT_OTLP_PORT,
    DEFAULT_RETENTION,
    DEFAULT_ROLLUP_RETENTION,
    TOKENTRACE_ALERTS,
    TOKENTRACE_API_KEY,
    TOKENTRACE_CATALOG,
    TOKENTRACE_CLIENT_IP,
    TOKENTRACE_DATA_PATH,
    TOKENTRACE_RETENTION,
    TOKENTRACE_ROLLUP_RETENTION,
    ServeSettings,
)


def add_commands(subparsers: Subparsers) -> None:
    """Register ``serve``."""
    parser = subparsers.add_parser(
        "serve",
        help="run the backend: OTLP/HTTP ingest and the correlation API",
        description="Receive OTLP traces into DuckDB and serve the token correlation API.",
    )
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="DuckDB file (default: $TOKENTRACE_DB or ./tokentrace.duckdb)",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_API_PORT, help="API port (default: %(default)s)"
    )
    parser.add_argument(
        "--otlp-port",
        type=int,
        default=DEFAULT_OTLP_PORT,
        help="OTLP/HTTP ingest port (default: %(default)s)",
    )
    parser.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help=f"bind a non-loopback address without {TOKENTRACE_API_KEY} or TOKENTRACE_INGEST_KEY",
    )
    parser.add_argument(
        "--alerts",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"alert rules (TOML, docs/alerts.md; default: ${TOKENTRACE_ALERTS})",
    )
    parser.add_argument(
        "--client-ip",
        choices=CLIENT_IP_CHOICES,
        default=None,
        help=f"client addresses stored as they came, as their /24 or /48 network, or not at "
        f"all (default: ${TOKENTRACE_CLIENT_IP} or keep)",
    )
    parser.add_argument(
        "--retention",
        default=None,
        metavar="AGE",
        help=f"keep raw spans this long, by event time, e.g. 14d, 36h "
        f"(default: ${TOKENTRACE_RETENTION} or {DEFAULT_RETENTION})",
    )
    parser.add_argument(
        "--rollup-retention",
        default=None,
        metavar="AGE",
        help=f"keep the daily per-token roll-ups this long "
        f"(default: ${TOKENTRACE_ROLLUP_RETENTION} or {DEFAULT_ROLLUP_RETENTION})",
    )
    parser.add_argument(
        "--catalog",
        default=None,
        metavar="URL",
        help=f"lake mode: the PostgreSQL catalog of a DuckLake shared with other nodes, "
        f"postgresql://USER@HOST:PORT/DB (default: ${TOKENTRACE_CATALOG}; "
        f"needs tokentrace[lake], docs/production.md)",
    )
    parser.add_argument(
        "--data-path",
        default=None,
        metavar="DIR",
        help=f"lake mode: the shared directory of the lake's Parquet files "
        f"(default: ${TOKENTRACE_DATA_PATH})",
    )
    parser.set_defaults(func=run_serve)


def run_serve(arguments: argparse.Namespace) -> int:
    """Handler of ``tokentrace serve``; returns the exit code."""
    try:
        settings = ServeSettings.resolve(
            db_path=arguments.db,
            host=arguments.host,
            api_port=arguments.port,
            otlp_port=arguments.otlp_port,
            allow_unauthenticated=arguments.allow_unauthenticated,
            alerts_path=arguments.alerts,
            client_ip=arguments.client_ip,
            retention=arguments.retention,
            rollup_retention=arguments.rollup_retention,
            catalog=arguments.catalog,
            data_path=arguments.data_path,
        )
    except SettingsError as error:
        print(f"tokentrace serve: {error}", file=sys.stderr)
        return 2
    import duckdb

    from tokentrace_backend.server import DatabaseInvalidated, serve  # heavy: only to serve
    from tokentrace_backend.storage import LakeUnavailable

    try:
        asyncio.run(serve(settings))
    except duckdb.IOException as error:  # typically: another process holds the file's lock
        print(f"tokentrace serve: cannot open {settings.db_path}: {error}", file=sys.stderr)
        return 1
    except LakeUnavailable as error:  # no lake extra, no catalog, a bad location
        print(f"tokentrace serve: {error}", file=sys.stderr)
        return 1
    except DatabaseInvalidated as error:  # restart it (what it acknowledged is stored)
        print(f"tokentrace serve: {error}; start it again", file=sys.stderr)
        return 3
    except SettingsError as error:  # found while starting (TOKENTRACE_DECODER=native, say)
        print(f"tokentrace serve: {error}", file=sys.stderr)
        return 2
    return 0
