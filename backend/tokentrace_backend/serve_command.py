"""``tokentrace serve``: the backend (OTLP ingest + correlation API) in one process."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import sys
from pathlib import Path

from tokentrace_backend.settings import (
    DEFAULT_API_PORT,
    DEFAULT_HOST,
    DEFAULT_OTLP_PORT,
    TOKENTRACE_API_KEY,
    IngestSettings,
    ServeSettings,
    SettingsError,
    default_db_path,
    duckdb_memory_limit,
)


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        help=f"bind a non-loopback address without {TOKENTRACE_API_KEY}",
    )
    parser.set_defaults(func=run_serve)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def build_settings(arguments: argparse.Namespace) -> ServeSettings:
    """Validated settings from the command line and the environment."""
    api_key = os.environ.get(TOKENTRACE_API_KEY) or None
    if not is_loopback(arguments.host) and api_key is None and not arguments.allow_unauthenticated:
        raise SettingsError(
            f"refusing to serve the API on non-loopback address {arguments.host} without "
            f"{TOKENTRACE_API_KEY}: set it, or pass --allow-unauthenticated"
        )
    for name in ("port", "otlp_port"):
        port = getattr(arguments, name)
        if not 0 <= port <= 65535:
            raise SettingsError(f"--{name.replace('_', '-')} must be a port number, got {port}")
    return ServeSettings(
        db_path=arguments.db if arguments.db is not None else default_db_path(),
        duckdb_memory_limit=duckdb_memory_limit(),
        host=arguments.host,
        api_port=arguments.port,
        otlp_port=arguments.otlp_port,
        api_key=api_key,
        allow_unauthenticated=arguments.allow_unauthenticated,
        ingest=IngestSettings.from_env(),
    )


def run_serve(arguments: argparse.Namespace) -> int:
    """Handler of ``tokentrace serve``; returns the exit code."""
    try:
        settings = build_settings(arguments)
    except SettingsError as error:
        print(f"tokentrace serve: {error}", file=sys.stderr)
        return 2
    import duckdb

    from tokentrace_backend.server import serve  # heavy imports only when serving

    try:
        asyncio.run(serve(settings))
    except duckdb.IOException as error:  # typically: another process holds the file's lock
        print(f"tokentrace serve: cannot open {settings.db_path}: {error}", file=sys.stderr)
        return 1
    except SettingsError as error:  # found while starting (TOKENTRACE_DECODER=native, say)
        print(f"tokentrace serve: {error}", file=sys.stderr)
        return 2
    return 0
