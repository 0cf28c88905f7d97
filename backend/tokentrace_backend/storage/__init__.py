"""Storage: the DuckDB database file, its schema and its single writer.

Owns the file (``database``: one connection per process, read cursors for everyone), the
schema (``schema/NNN_*.sql``, applied in order by ``migrations``), the rows that are stored
(``span_rows``: Arrow schemas and one request's decoded rows), the one writer of ``spans``
and ``resources`` (``writer``), and the one way SQL is loaded and run (``sql``). It knows
nothing of OTLP, HTTP or tokens: ingest hands it rows, the derived tables and queries read
it. In lake mode (``lake``, opened through ``opening``) the same tables live in a DuckLake
that several nodes share, with cluster-wide locks (``cluster``) and batch numbers in commit
order (``batch_numbering``).
"""

from __future__ import annotations

from tokentrace_backend.storage.database import Database, ReadableDatabase
from tokentrace_backend.storage.migrations import apply_migrations, migration_files
from tokentrace_backend.storage.opening import LakeUnavailable, open_database

__all__ = [
    "Database",
    "LakeUnavailable",
    "ReadableDatabase",
    "apply_migrations",
    "migration_files",
    "open_database",
]
