"""How ``tokentrace serve`` starts in lake mode: what it refuses and how it says so, and
two nodes starting together on an empty catalog; and the lake's dialect of the schema
migrations."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path

import duckdb
import httpx
import psycopg

from tests.lake.lake_nodes import lake_node, one_request_export, post_export
from tests.polling import wait_for
from tokentrace_backend.scenario.processes import free_port
from tokentrace_backend.scenario.stack import tokentrace_command
from tokentrace_backend.storage.migrations import (
    apply_migrations,
    lake_dialect,
    migration_files,
)

PASSWORD = "s3cret-catalog-pa55word"


def serve(command: list[str], tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``tokentrace serve`` on free ports, expected to exit by itself."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TOKENTRACE_")}
    return subprocess.run(
        [
            *command,
            "serve",
            "--db",
            str(tmp_path / "unused.duckdb"),
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port()),
            "--otlp-port",
            str(free_port()),
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_a_catalog_without_a_data_path_is_refused(tmp_path: Path) -> None:
    done = serve(tokentrace_command(), tmp_path, "--catalog", "postgresql://u@127.0.0.1:1/db")
    assert done.returncode == 2, done.stderr
    assert "lake mode needs both --catalog (TOKENTRACE_CATALOG) and --data-path" in done.stderr
    assert "Traceback" not in done.stderr
    done = serve(tokentrace_command(), tmp_path, "--data-path", str(tmp_path / "lake"))
    assert done.returncode == 2, done.stderr
    assert "lake mode needs both" in done.stderr


def test_a_catalog_that_is_not_a_postgresql_url_is_refused(tmp_path: Path) -> None:
    for url in ("mysql://u@127.0.0.1:3306/db", "127.0.0.1:5432/db", "postgresql://u@host/"):
        done = serve(tokentrace_command(), tmp_path, "--catalog", url, "--data-path", str(tmp_path))
        assert done.returncode == 2, (url, done.stderr)
        assert "must be a PostgreSQL URL such as postgresql://" in done.stderr, url
        assert "Traceback" not in done.stderr


def test_without_the_lake_extra_serve_names_it(tmp_path: Path) -> None:
    """The main environment's DuckDB (no extension packages) cannot run a lake node."""
    assert not duckdb.__version__.startswith("1.5.")  # this is not the lake environment
    url = f"postgresql://u:{PASSWORD}@127.0.0.1:{free_port()}/db"
    done = serve(tokentrace_command(), tmp_path, "--catalog", url, "--data-path", str(tmp_path))
    assert done.returncode == 1, done.stderr
    assert "tokentrace[lake]" in done.stderr, done.stderr
    assert "DuckDB extension postgres_scanner" in done.stderr
    assert "Traceback" not in done.stderr
    assert PASSWORD not in done.stderr + done.stdout


def test_an_unreachable_catalog_is_refused_without_showing_its_password(
    lake_tokentrace: list[str], tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://tokentrace:{PASSWORD}@127.0.0.1:{port}/catalog"
    done = serve(lake_tokentrace, tmp_path, "--catalog", url, "--data-path", str(tmp_path / "d"))
    assert done.returncode == 1, done.stderr
    assert f"lake postgresql://tokentrace:***@127.0.0.1:{port}/catalog" in done.stderr
    assert "Traceback" not in done.stderr
    assert PASSWORD not in done.stderr + done.stdout


def test_two_nodes_starting_together_on_an_empty_catalog_both_come_up(
    lake_tokentrace: list[str], catalog: str, tmp_path: Path
) -> None:
    data = tmp_path / "lake"
    nodes = [lake_node(lake_tokentrace, catalog, data, tmp_path, f"node-{i}") for i in (1, 2)]
    errors: list[BaseException] = []

    def start(index: int) -> None:
        try:
            nodes[index].start(timeout=90)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start, args=(index,)) for index in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert errors == []
        # Both are up on the one lake: a trace ingested by one is read from the other.
        trace_id, body = one_request_export(os.urandom(16).hex())
        assert post_export(nodes[0].otlp_url, body) == 200
        wait_for(
            lambda: httpx.get(f"{nodes[1].api_url}/api/traces/{trace_id.hex()}").is_success,
            "node 2 to read node 1's trace",
        )
        # The logs: one leader, no errors of either start.
        logs = [node.process.log_bytes() if node.process else b"" for node in nodes]
        assert sum(log.count(b"this node is now the lake's leader") for log in logs) == 1, logs
        for log in logs:
            assert b"Traceback" not in log, log.decode(errors="replace")
    finally:
        for node in nodes:
            node.stop()
    # The migrations ran once: each table once in the catalog, each version recorded once.
    with psycopg.connect(catalog) as connection:
        tables = connection.execute(
            "SELECT table_name, count(*) FROM ducklake_table WHERE end_snapshot IS NULL"
            " GROUP BY table_name ORDER BY table_name"
        ).fetchall()
    assert tables, "no tables in the catalog"
    assert [name for name, count in tables if count != 1] == []
    versions = lake_rows(catalog, data, "SELECT version FROM schema_version ORDER BY version")
    assert versions == [str(migration.version) for migration in migration_files()]


def lake_rows(catalog: str, data: Path, query: str) -> list[str]:
    """``query``'s first column, read from the lake by the lake environment's DuckDB (the
    main environment's cannot load the extensions)."""
    from tests.lake.lake_nodes import LAKE_VENV

    script = (
        "import sys, duckdb\n"
        "from tokentrace_backend.storage.lake.extensions import CONNECTION_CONFIG, load_extensions\n"
        "c = duckdb.connect(':memory:', config=dict(CONNECTION_CONFIG))\n"
        "load_extensions(c)\n"
        "c.execute(f\"ATTACH 'ducklake:postgres:{sys.argv[1]}' AS lake (DATA_PATH '{sys.argv[2]}', READ_ONLY)\")\n"
        "c.execute('USE lake')\n"
        "for row in c.execute(sys.argv[3]).fetchall(): print(row[0])\n"
    )
    done = subprocess.run(
        [str(LAKE_VENV / "bin" / "python"), "-c", script, catalog, str(data), query],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.split()


_COMMENT = re.compile(r"--[^\n]*")
_NOT_IN_A_LAKE = re.compile(
    r"PRIMARY\s+KEY|\bUNIQUE\b|\bSEQUENCE\b|nextval|SET\s+NOT\s+NULL", re.IGNORECASE
)


def test_the_lake_dialect_drops_what_ducklake_lacks_and_only_that() -> None:
    migrations = migration_files()
    assert migrations
    for migration in migrations:
        lake_sql = _COMMENT.sub("", lake_dialect(migration.sql))
        assert _NOT_IN_A_LAKE.findall(lake_sql) == [], migration.name
    # Somewhere there was something to drop (else the check above proves nothing).
    assert any(_NOT_IN_A_LAKE.search(migration.sql) for migration in migrations)

    def schema(connection: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[object, ...]]]:
        return {
            "columns": connection.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns()"
                " WHERE database_name = current_database() ORDER BY ALL"
            ).fetchall(),
            "constraints": connection.execute(
                "SELECT table_name, constraint_type, constraint_text FROM duckdb_constraints()"
                " WHERE database_name = current_database() ORDER BY ALL"
            ).fetchall(),
            "sequences": connection.execute(
                "SELECT sequence_name FROM duckdb_sequences()"
                " WHERE database_name = current_database() ORDER BY ALL"
            ).fetchall(),
            "indexes": connection.execute(
                "SELECT table_name, index_name, is_unique FROM duckdb_indexes()"
                " WHERE database_name = current_database() ORDER BY ALL"
            ).fetchall(),
        }

    # The embedded schema: apply_migrations without a dialect runs each file as written.
    with duckdb.connect(":memory:") as embedded, duckdb.connect(":memory:") as written:
        apply_migrations(embedded)
        apply_migrations(written, lambda sql: sql)
        embedded_schema = schema(embedded)
        assert embedded_schema == schema(written)
    kinds = {kind for _, kind, _ in embedded_schema["constraints"]}
    assert "PRIMARY KEY" in kinds
    # The lake's: the same tables and columns (types included), without keys or sequences.
    with duckdb.connect(":memory:") as lake:
        apply_migrations(lake, lake_dialect)
        lake_schema = schema(lake)
    assert lake_schema["columns"] == embedded_schema["columns"]
    assert {kind for _, kind, _ in lake_schema["constraints"]} <= {"NOT NULL", "CHECK"}
    assert lake_schema["sequences"] == []
    assert [index for index in lake_schema["indexes"] if index[2]] == []
