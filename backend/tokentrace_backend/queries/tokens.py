"""``tokens``: the tokens seen in a window, with their request counts and outcomes."""

from __future__ import annotations

import duckdb

from .filters import QueryFilters
from .results import TokenListItem, TokenPage
from .sql_files import load_sql, run
from .timestamps import datetime_from_ns


def list_tokens(
    cursor: duckdb.DuckDBPyConnection, filters: QueryFilters, *, limit: int, offset: int
) -> TokenPage:
    """One page of tokens, most recently active first; ``next_offset`` is None on the last."""
    parameters = {**filters.parameters(), "limit": limit + 1, "offset": offset}
    rows = run(cursor, load_sql("tokens"), parameters).fetchall()
    tokens = [
        TokenListItem(
            token_id=token_id,
            key_id=key_id,
            owner=owner,
            name=name,
            first_seen=datetime_from_ns(first_ns),
            last_seen=datetime_from_ns(last_ns),
            requests=requests,
            errors=errors,
            outcomes={str(outcome): count for outcome, count in (outcomes or {}).items()},
            services=services,
        )
        for (
            token_id,
            key_id,
            owner,
            name,
            first_ns,
            last_ns,
            requests,
            errors,
            outcomes,
            services,
        ) in rows[:limit]
    ]
    next_offset = offset + limit if len(rows) > limit else None
    return TokenPage(tokens=tokens, next_offset=next_offset)


def token_exists(cursor: duckdb.DuckDBPyConnection, token_id: str) -> bool:
    """True when any stored span carries ``token_id``."""
    row = run(cursor, load_sql("token_exists"), {"token_id": token_id}).fetchone()
    return bool(row and row[0])
