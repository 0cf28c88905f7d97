"""Lifecycle events registered over the API, for token issuers that run no tokentrace.

They go to ``token_lifecycle`` beside the events apps record as spans (``source`` 'api'
rather than 'span', and no trace), so that every reader sees one list, and they update the
token's known expiry (``token_dim.expires_ns``, ``known_expiry_ns`` of migration 107) at
once. When the token has no span yet, the refresh computes its expiry, registered events
included, when its first span arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from tokentrace_backend.storage.sql import load_sql, run

from .refresh import DerivedTables

_UPDATE_EXPIRY = (
    "UPDATE token_dim SET expires_ns = known_expiry_ns(jwt_expires_ns, token_id)"
    " WHERE token_id = $token_id"
)


@dataclass(frozen=True)
class LifecycleRegistration:
    """One event as a client registers it (validated by the API): times in unix ns."""

    event: str
    token_id: str
    at_ns: int
    new_token_id: str | None = None
    actor: str | None = None
    expires_ns: int | None = None


def stored_row(registration: LifecycleRegistration) -> dict[str, Any]:
    """The ``token_lifecycle`` row that derived/lifecycle_registration.sql stores for
    ``registration``, column by column."""
    return {
        "token_id": registration.token_id,
        "new_token_id": registration.new_token_id,
        "event": registration.event,
        "actor": registration.actor,
        "at_ns": registration.at_ns,
        "trace_id": None,
        "source": "api",
        "expires_ns": registration.expires_ns,
    }


def register_lifecycle(
    cursor: duckdb.DuckDBPyConnection,
    derived: DerivedTables,
    registration: LifecycleRegistration,
    *,
    within: Callable[[duckdb.DuckDBPyConnection, dict[str, Any]], object] | None = None,
) -> dict[str, Any]:
    """Store ``registration`` and update its token's expiry, in one transaction taken
    between two refreshes of the derived tables (both update ``token_dim``; DuckDB would
    abort one of two transactions updating the same row). Returns the stored row.

    ``within`` is called with the cursor and the stored row inside that transaction, for
    what must commit with it (the API's audit record)."""
    parameters = asdict(registration)
    with derived.exclusive():
        cursor.execute("BEGIN TRANSACTION")
        try:
            run(cursor, load_sql("derived/lifecycle_registration"), parameters)
            run(cursor, _UPDATE_EXPIRY, parameters)
            if within is not None:
                within(cursor, stored_row(registration))
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
    return stored_row(registration)
