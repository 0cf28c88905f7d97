"""Searching what a tokentrace backend stored for raw tokens.

DuckDB compresses strings on disk (dictionary and FSST compression), so a raw token can be
in a ``.duckdb`` file without its bytes being there: a byte search of the file proves
nothing. :func:`stored_secrets` searches the rows as DuckDB decodes them, every column of
every table (cast to text, so JSON, lists and structs are searched too), and the bytes of
the files that are not compressed: the write-ahead log and spill files beside the database,
and the ingest journal's segments (Arrow IPC, uncompressed).

The database must not be open in another process (DuckDB locks the file): stop the backend
first.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb

from tokentrace_backend.storage.database import stored_files

Found = tuple[str, str]
"""(where, secret): ``table.column`` for a decoded row, ``file:NAME`` for file bytes."""


def decoded_rows_holding(db_path: Path, secrets: Iterable[str]) -> list[Found]:
    """(``table.column``, secret) for each column of each table of the database at
    ``db_path`` with a value that holds a secret, as DuckDB decodes the rows."""
    wanted = list(secrets)
    found: list[Found] = []
    connection = duckdb.connect(str(db_path), read_only=True)
    try:
        columns = connection.execute(
            "SELECT c.schema_name, c.table_name, c.column_name"
            " FROM duckdb_columns() AS c JOIN duckdb_tables() AS t"
            " ON c.database_name = t.database_name AND c.schema_name = t.schema_name"
            " AND c.table_name = t.table_name"
            " WHERE c.database_name = current_database() AND NOT t.internal"
            " ORDER BY 1, 2, c.column_index"
        ).fetchall()
        assert columns, f"no tables in {db_path}"
        for schema, table, column in columns:
            rows = connection.execute(
                f'SELECT DISTINCT s.secret FROM (SELECT CAST("{column}" AS VARCHAR) AS v'
                f' FROM "{schema}"."{table}") AS t'
                " JOIN (SELECT unnest(?::VARCHAR[]) AS secret) AS s ON contains(t.v, s.secret)",
                [wanted],
            ).fetchall()
            where = table if schema == "main" else f"{schema}.{table}"
            found += [(f"{where}.{column}", secret) for (secret,) in rows]
    finally:
        connection.close()
    return found


def file_bytes_holding(db_path: Path, secrets: Iterable[str]) -> list[Found]:
    """(``file:NAME``, secret) for each file the backend wrote for the database (the file,
    its write-ahead log, the journal's segments) whose bytes hold a secret."""
    wanted = list(secrets)
    found: list[Found] = []
    for path in stored_files(db_path):
        data = path.read_bytes()
        found += [(f"file:{path.name}", secret) for secret in wanted if secret.encode() in data]
    return found


def stored_secrets(db_path: Path, secrets: Iterable[str]) -> list[Found]:
    """Where the backend's database at ``db_path`` holds any of ``secrets``: in a decoded
    row of any table, or in the bytes of any file it wrote. Empty when it holds none."""
    wanted = list(secrets)
    return decoded_rows_holding(db_path, wanted) + file_bytes_holding(db_path, wanted)
