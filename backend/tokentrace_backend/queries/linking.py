"""Trace-level token linking, composed in front of the queries that need it.

A span belongs to its own token, else to the token of its nearest tagged ancestor, else to
the token of its trace's earliest tagged span (see ``linking.sql``). Linking happens at
query time over the selected traces only: a token's traces are a few hundred out of
millions, so walking them costs milliseconds, while a derived per-span table would add
bytes to every stored span (the benchmark in ``benchmarks/query_latency.py`` measures both
sides of that trade).
"""

from __future__ import annotations

from .sql_files import load_sql

# Spans of one trace lie close together in time, so the second scan (all spans of the
# selected traces) only looks this far outside the query window. This lets DuckDB skip row
# groups by their start_ns min/max instead of reading the whole table.
LINK_MARGIN_NS = 3_600 * 1_000_000_000


def linked_spans_sql(selector: str, body: str) -> str:
    """SQL text: ``WITH RECURSIVE <selector>, <linking>, <body>``.

    ``selector`` names a ``.sql`` file defining the ``selected_traces(trace_id)`` CTE and
    ``body`` one that continues the statement (its own CTEs, then the final SELECT) over
    ``linked_spans``. Only SQL text from the package's files is joined; values stay
    parameters.
    """
    return (
        "WITH RECURSIVE\n"
        + load_sql(selector).strip()
        + ",\n"
        + load_sql("linking").strip()
        + "\n"
        + load_sql(body).strip()
    )


def link_window(since_ns: int, until_ns: int) -> dict[str, int]:
    """The ``$link_since_ns``/``$link_until_ns`` parameters for a query window."""
    return {
        "link_since_ns": since_ns - LINK_MARGIN_NS,
        "link_until_ns": until_ns + LINK_MARGIN_NS,
    }
