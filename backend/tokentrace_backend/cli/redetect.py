"""``tokentrace redetect``: run every detector again over everything stored (the server
stopped: DuckDB lets one process open the file), for instance after thresholds changed."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb

from tokentrace.cli import Subparsers
from tokentrace_backend.derived import derived_tables_of
from tokentrace_backend.detect import Detection
from tokentrace_backend.settings import default_db_path, duckdb_memory_limit
from tokentrace_backend.storage import Database


def add_commands(subparsers: Subparsers) -> None:
    """Register ``redetect``."""
    parser = subparsers.add_parser(
        "redetect",
        help="run the anomaly detectors again over every stored span",
        description=(
            "Bring the derived tables up to date, forget what the detectors learned and read "
            "every batch again. Findings keep the states users gave them. Stop "
            "`tokentrace serve` first: the file is opened for writing."
        ),
    )
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="DuckDB file (default: $TOKENTRACE_DB or ./tokentrace.duckdb)",
    )
    parser.set_defaults(func=run_redetect)


def run_redetect(arguments: argparse.Namespace) -> int:
    path: Path = arguments.db or default_db_path()
    if not path.is_file():
        print(f"tokentrace redetect: no database at {path}", file=sys.stderr)
        return 2
    try:
        database = Database(path, memory_limit=duckdb_memory_limit())
    except duckdb.IOException as error:  # typically: tokentrace serve holds the file's lock
        print(f"tokentrace redetect: cannot open {path}: {error}", file=sys.stderr)
        return 1
    try:
        with database.reader() as cursor:
            started = time.perf_counter()
            derived_tables_of(database).catch_up(cursor)
            batches = Detection().redetect(cursor)
            seconds = time.perf_counter() - started
            counts = dict(
                cursor.execute("SELECT state, count(*) FROM findings GROUP BY state").fetchall()
            )
    finally:
        database.close()
    summary = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
    print(f"re-detected {batches} batches in {seconds:.1f} s; findings: {summary or 'none'}")
    return 0
