"""Schema migrations: the ``schema/NNN_*.sql`` files, applied once each in numeric order.

The applied versions are recorded in ``schema_version``; each migration runs in its own
transaction together with its version row, so a crash mid-migration leaves the file at
the previous version rather than half-migrated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import duckdb

_MIGRATION_NAME = re.compile(r"^(\d{3,})_[A-Za-z0-9_]+\.sql$")

_CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT CAST(now() AS TIMESTAMP)
)
"""


@dataclass(frozen=True)
class Migration:
    """One schema file: its number, file name and SQL text."""

    version: int
    name: str
    sql: str


def migration_files() -> list[Migration]:
    """Every migration shipped in ``storage/schema``, sorted by version number."""
    schema_dir = resources.files("tokentrace_backend.storage") / "schema"
    found: list[Migration] = []
    for entry in schema_dir.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two schema files share a version number: {versions}")
    return found


# What a DuckLake table cannot have (lake mode, storage/lake): key and unique constraints,
# sequences, and SET NOT NULL on a column added in the same migration. The keys document
# and check the embedded file; in a lake the code that writes keeps them unique (one
# writer per table, or MERGE), and the ids the sequences gave are drawn by their one writer.
_LAKE_DROPPED = (
    re.compile(r",\s*PRIMARY KEY\s*\([^)]*\)"),  # a table's composite key
    re.compile(r"\s+PRIMARY KEY\b"),
    re.compile(r"\s+UNIQUE\b"),
    re.compile(r"CREATE SEQUENCE [^;]*;"),
    re.compile(r"\s+DEFAULT nextval\('[^']*'\)"),
    re.compile(r"ALTER TABLE \w+ ALTER COLUMN \w+ SET NOT NULL;"),
)


def lake_dialect(sql: str) -> str:
    """``sql`` without what DuckLake does not support (see ``_LAKE_DROPPED``)."""
    for pattern in _LAKE_DROPPED:
        sql = pattern.sub("", sql)
    return sql


def apply_migrations(
    connection: duckdb.DuckDBPyConnection, dialect: Callable[[str], str] | None = None
) -> list[int]:
    """Apply the migrations this database has not seen yet; returns the versions applied.
    ``dialect`` rewrites each statement first (``lake_dialect`` for a lake)."""
    rewrite = dialect or (lambda sql: sql)
    connection.execute(rewrite(_CREATE_VERSION_TABLE))
    rows = connection.execute("SELECT version FROM schema_version").fetchall()
    done = {int(row[0]) for row in rows}
    applied: list[int] = []
    for migration in migration_files():
        if migration.version in done:
            continue
        connection.execute("BEGIN TRANSACTION")
        try:
            connection.execute(rewrite(migration.sql))
            connection.execute(
                "INSERT INTO schema_version (version, name) VALUES (?, ?)",
                [migration.version, migration.name],
            )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied
