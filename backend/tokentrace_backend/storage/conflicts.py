"""Write-write conflicts between transactions, and retrying the loser.

DuckDB (and DuckLake across nodes) commits optimistically: when two transactions change
the same table's rows (or a lake table one deleted from while the other inserted), the
second to commit fails with a ``TransactionException`` whose text says "conflict". Its
changes were rolled back, so running the whole transaction again is safe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final, TypeVar

import duckdb

logger = logging.getLogger(__name__)

ATTEMPTS: Final = 6
FIRST_WAIT_SECONDS: Final = 0.02

_T = TypeVar("_T")


def is_conflict(error: BaseException) -> bool:
    """Whether ``error`` is a transaction that lost a write-write conflict."""
    return isinstance(error, duckdb.TransactionException) and "conflict" in str(error).lower()


def retry_on_conflict(transaction: Callable[[], _T], *, what: str) -> _T:
    """``transaction()``, run again (up to ``ATTEMPTS`` times in all, waiting 20 ms, 40 ms,
    ...) while it loses a conflict; any other error, or the last conflict, is raised."""
    wait = FIRST_WAIT_SECONDS
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return transaction()
        except duckdb.TransactionException as error:
            if attempt == ATTEMPTS or not is_conflict(error):
                raise
            logger.info("%s lost a write conflict (attempt %d), retrying: %s", what, attempt, error)
        time.sleep(wait)
        wait *= 2
    raise AssertionError("unreachable")
