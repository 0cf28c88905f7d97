"""``dependencies``: the service graph, per token (through its traces) or global."""

from __future__ import annotations

from typing import Any

import duckdb

from .filters import QueryFilters
from .linking import link_window, linked_spans_sql
from .results import DependencyGraph, Edge, Node
from .sql_files import load_sql, run
from .timestamps import datetime_from_ns, ms_from_ns


def token_dependencies(
    cursor: duckdb.DuckDBPyConnection, token_id: str, filters: QueryFilters
) -> DependencyGraph:
    """The graph drawn by the spans linked to ``token_id``."""
    window = filters.window
    parameters: dict[str, Any] = {
        **filters.parameters(),
        **link_window(window.since_ns, window.until_ns),
        "token_id": token_id,
    }
    sql = linked_spans_sql("token_traces", "token_scope") + "\n" + load_sql("dependency_edges")
    return _graph(token_id, filters, run(cursor, sql, parameters).fetchall())


def global_dependencies(
    cursor: duckdb.DuckDBPyConnection, filters: QueryFilters
) -> DependencyGraph:
    """The graph drawn by every span in the window."""
    sql = load_sql("global_scope") + "\n" + load_sql("dependency_edges")
    return _graph(None, filters, run(cursor, sql, filters.parameters()).fetchall())


def _graph(
    token_id: str | None, filters: QueryFilters, rows: list[tuple[Any, ...]]
) -> DependencyGraph:
    nodes: dict[str, str] = {}
    edges: list[Edge] = []
    for source, target, target_kind, calls, errors, p95_ns in rows:
        nodes.setdefault(source, "service")
        if target is None:  # a node-only row
            continue
        nodes.setdefault(target, target_kind)
        edges.append(
            Edge(
                source=source,
                target=target,
                target_kind=target_kind,
                calls=calls,
                errors=errors,
                p95_ms=ms_from_ns(p95_ns),
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
