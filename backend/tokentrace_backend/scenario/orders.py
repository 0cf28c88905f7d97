"""The scenario's ``orders``: a Flask app under tokentrace.WSGIMiddleware, backed by sqlite3.

It trusts the gateway (no token of its own); the token id reaches it in W3C baggage and
tokentrace copies it onto its spans. sqlite3 is instrumented by OpenTelemetry, so every
query is a CLIENT span with ``db.system`` = sqlite. Orders live in per-owner shard tables;
the legacy importer's shard was never migrated, so its requests fail with a real
``sqlite3.OperationalError`` (no such table) and a 500.

Run it: ``python -m tokentrace_backend.scenario.orders --port P [--db PATH]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from flask import Flask, g, jsonify, request
from flask.typing import ResponseReturnValue
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

import tokentrace
from tokentrace_backend.scenario.service_runtime import serve_wsgi, setup_tracing
from tokentrace_backend.scenario.tokens import FAULTY_OWNER

SERVICE_NAME = "orders"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders_main (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    item TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


def shard_table(owner: str) -> str:
    """The table holding ``owner``'s orders (the legacy shard does not exist)."""
    return "orders_legacy" if owner == FAULTY_OWNER else "orders_main"


def create_app(db_path: Path) -> Flask:
    """The orders app over the sqlite database at ``db_path`` (created if missing)."""
    with sqlite3.connect(db_path) as connection:
        connection.execute(_SCHEMA)
    app = Flask("orders")

    def database() -> sqlite3.Connection:
        if "db" not in g:
            g.db = sqlite3.connect(db_path)
        connection: sqlite3.Connection = g.db
        return connection

    @app.teardown_appcontext
    def close_database(_error: BaseException | None) -> None:
        connection = g.pop("db", None)
        if connection is not None:
            connection.close()

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify(status="ok")

    @app.get("/orders")
    def list_orders() -> ResponseReturnValue:
        owner = request.args.get("owner", "")
        # The table name comes from shard_table(), never from the request.
        # Cursors, not Connection.execute: the OTel sqlite3 instrumentation traces cursors.
        cursor = database().cursor()
        cursor.execute(
            f"SELECT id, item, created_at FROM {shard_table(owner)} "  # noqa: S608
            "WHERE owner = ? ORDER BY id DESC LIMIT 20",
            (owner,),
        )
        rows = cursor.fetchall()
        return jsonify(orders=[{"id": r[0], "item": r[1], "created_at": r[2]} for r in rows])

    @app.post("/orders")
    def create_order() -> ResponseReturnValue:
        body: dict[str, Any] = request.get_json(force=True)
        owner = str(body.get("owner", ""))
        connection = database()
        cursor = connection.cursor()
        cursor.execute(
            f"INSERT INTO {shard_table(owner)} (owner, item, created_at) "  # noqa: S608
            "VALUES (?, ?, ?)",
            (owner, str(body.get("item", "")), time.time()),
        )
        connection.commit()
        return jsonify(id=cursor.lastrowid), 201

    app.wsgi_app = tokentrace.WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the orders service under werkzeug until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, help="sqlite file (default: a fresh temporary one)")
    args = parser.parse_args(argv)
    setup_tracing(SERVICE_NAME)
    SQLite3Instrumentor().instrument()
    with tempfile.TemporaryDirectory(prefix="tokentrace-orders-") as scratch:
        db_path = args.db or Path(scratch) / "orders.sqlite"
        serve_wsgi(create_app(db_path), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
