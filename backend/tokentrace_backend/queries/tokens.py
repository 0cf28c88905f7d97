"""``tokens``: the tokens seen in a window, with their request counts and outcomes."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from tokentrace_backend.storage.sql import load_sql, run

from .filters import QueryFilters
from .results import TokenListItem, TokenPage
from .timestamps import datetime_from_ns


def list_tokens(
    cursor: duckdb.DuckDBPyConnection,
    filters: QueryFilters,
    *,
    limit: int,
    offset: int,
    owner: str | None = None,
    token_prefix: str | None = None,
) -> TokenPage:
    """One page of tokens, most recently active first; ``next_offset`` is None on the last.
    ``owner`` keeps the tokens whose owner contains it (any case), ``token_prefix`` those
    whose id starts with it."""
    parameters = {
        **filters.parameters(),
        "limit": limit + 1,
        "offset": offset,
        "owner": owner,
        "token_prefix": token_prefix,
    }
    rows = run(cursor, load_sql("queries/tokens"), parameters).fetchall()
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
            open_findings=open_findings,
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
            open_findings,
            services,
        ) in rows[:limit]
    ]
    next_offset = offset + limit if len(rows) > limit else None
    return TokenPage(tokens=tokens, next_offset=next_offset)


@dataclass(frozen=True)
class KnownToken:
    """A token id with its key in the derived tables and its latest metadata."""

    token_id: str
    number: int
    key_id: str | None
    owner: str | None
    name: str | None


def find_token(cursor: duckdb.DuckDBPyConnection, token_id: str) -> KnownToken | None:
    """The token, or None when no span ever carried this id."""
    row = cursor.execute(
        "SELECT token_number, key_id, owner, name FROM token_dim WHERE token_id = $token_id",
        {"token_id": token_id},
    ).fetchone()
    if row is None:
        return None
    number, key_id, owner, name = row
    return KnownToken(token_id=token_id, number=int(number), key_id=key_id, owner=owner, name=name)
