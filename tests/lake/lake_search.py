"""Searches of what a lake stores, decoded: every row of its Parquet files as text, and every
row of its catalog database (each column as text, ``bytea`` columns also as bytes)."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import psycopg


def parquet_rows_holding(paths: list[Path], secrets: list[str]) -> list[tuple[str, str]]:
    """(file, secret) for each secret some decoded row of a Parquet file holds. The nodes
    may still run: a file being written is read again a moment later, and one a
    maintenance removed meanwhile holds nothing any more."""
    found: list[tuple[str, str]] = []
    with duckdb.connect(":memory:") as connection:
        for path in paths:
            rows = _rows_holding(connection, path, secrets)
            found += [(path.name, secret) for (secret,) in rows]
    return found


def _rows_holding(
    connection: duckdb.DuckDBPyConnection, path: Path, secrets: list[str]
) -> list[tuple[str]]:
    for attempt in range(20):
        if not path.exists():
            return []
        try:
            rows: list[tuple[str]] = connection.execute(
                "SELECT DISTINCT s.secret FROM (SELECT CAST(t AS VARCHAR) AS v"
                " FROM read_parquet(?) AS t) AS r"
                " JOIN (SELECT unnest(?::VARCHAR[]) AS secret) AS s ON contains(r.v, s.secret)",
                [str(path), secrets],
            ).fetchall()
            return rows
        except (duckdb.InvalidInputException, duckdb.IOException):
            if attempt == 19 and path.exists():
                raise
            time.sleep(0.25)  # still being written (or being removed)
    return []


def catalog_rows_holding(
    catalog: str, secrets: list[str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """(table, secret) for each secret some row of a catalog table holds (every column
    as text; bytea columns also as their bytes), and the tables searched."""
    found: list[tuple[str, str]] = []
    with psycopg.connect(catalog) as connection:
        tables = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            " AND table_type = 'BASE TABLE' ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            text = "\n".join(
                str(row[0]) for row in connection.execute(f"SELECT t::text FROM {name} AS t")
            )
            found += [(f"{schema}.{table}", secret) for secret in secrets if secret in text]
            binary = connection.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s AND data_type = 'bytea'",
                (schema, table),
            ).fetchall()
            for (column,) in binary:
                for (value,) in connection.execute(f'SELECT "{column}" FROM {name}'):
                    data = bytes(value or b"")
                    found += [
                        (f"{schema}.{table}.{column}", secret)
                        for secret in secrets
                        if secret.encode() in data
                    ]
    return found, [f"{schema}.{table}" for schema, table in tables]
