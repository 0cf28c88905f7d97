"""``dependencies``: the service graph, per token (through its traces) or global."""

from __future__ import annotations

from typing import Any

import duckdb

from tokentrace_backend.storage.sql import load_sql, run

from .filters import QueryFilters
from .results import DependencyGraph, Edge, Node
from .timestamps import datetime_from_ns
from .tokens import KnownToken

_US_PER_MS = 1_000


def token_dependencies(
    cursor: duckdb.DuckDBPyConnection, token: KnownToken, filters: QueryFilters
) -> DependencyGraph:
    """The graph drawn by the calls in the token's traces (made on its behalf)."""
    parameters = {**filters.parameters(), "token_number": token.number}
    rows = run(cursor, load_sql("queries/dependency_edges"), parameters).fetchall()
    return _graph(token.token_id, filters, rows)


def global_dependencies(
    cursor: duckdb.DuckDBPyConnection, filters: QueryFilters
) -> DependencyGraph:
    """The graph drawn by every call in the window, with or without a token.

    Read from the per-minute aggregate: calls and errors of the minutes starting inside
    the window, p95 from merged duration histograms (within ~5%).
    """
    rows = run(cursor, load_sql("queries/global_dependency_edges"), filters.parameters()).fetchall()
    return _graph(None, filters, rows)


def _graph(
    token_id: str | None, filters: QueryFilters, rows: list[tuple[Any, ...]]
) -> DependencyGraph:
    nodes: dict[str, str] = {}
    edges: list[Edge] = []
    for source, target, target_kind, calls, errors, p95_us in rows:
        nodes.setdefault(source, "service")
        nodes.setdefault(target, target_kind)
        edges.append(
            Edge(
                source=source,
                target=target,
                target_kind=target_kind,
                calls=calls,
                errors=errors,
                p95_ms=None if p95_us is None else round(p95_us / _US_PER_MS, 3),
            )
        )
    edges.sort(key=lambda edge: (-edge.calls, edge.source, edge.target))
    return DependencyGraph(
        token_id=token_id,
        since=datetime_from_ns(filters.window.since_ns),
        until=datetime_from_ns(filters.window.until_ns),
        nodes=[Node(name=name, kind=kind) for name, kind in sorted(nodes.items())],
        edges=edges,
    )
