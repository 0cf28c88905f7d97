"""Write-write conflicts between transactions, and retrying the loser.

DuckDB (and DuckLake across nodes) commits optimistically: when two transactions change
the same table's rows (or a lake table one deleted from while the other inserted), the
second to commit fails with a ``TransactionException`` whose text says "conflict" (in a
lake, PostgreSQL's "could not serialize access" can surface too, as a plain
``duckdb.Error``). Its changes were rolled back, so running the whole transaction again
is safe.
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
    """Whether ``error`` is a transaction that lost a write-write conflict: DuckDB's (or
    DuckLake's) own, or PostgreSQL's serialization failure under a lake's catalog. The
    errors it led to count too (a ROLLBACK after a failed COMMIT raises "no transaction is
    active", with the conflict as its context)."""
    return any(_lost_conflict(cause) for cause in _chain(error))


def _lost_conflict(error: BaseException) -> bool:
    if not isinstance(error, duckdb.Error):
        return False
    text = str(error).lower()
    if isinstance(error, duckdb.TransactionException) and "conflict" in text:
        return True
    return "could not serialize access" in text


def _chain(error: BaseException | None, depth: int = 8) -> list[BaseException]:
    """``error`` and the exceptions it was raised from or while handling (a few levels)."""
    found: list[BaseException] = []
    while error is not None and len(found) < depth:
        found.append(error)
        error = error.__cause__ or error.__context__
    return found


def retry_on_conflict(transaction: Callable[[], _T], *, what: str) -> _T:
    """``transaction()``, run again (up to ``ATTEMPTS`` times in all, waiting 20 ms, 40 ms,
    ...) while it loses a conflict; any other error, or the last conflict, is raised."""
    wait = FIRST_WAIT_SECONDS
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return transaction()
        except duckdb.Error as error:
            if attempt == ATTEMPTS or not is_conflict(error):
                raise
            logger.info("%s lost a write conflict (attempt %d), retrying: %s", what, attempt, error)
        time.sleep(wait)
        wait *= 2
    raise AssertionError("unreachable")


def is_transient(error: BaseException) -> bool:
    """Whether running the same work again later can succeed: a lost conflict, or in a
    lake a data file removed (by a purge after an erasure) while a query that started
    before it still wanted it."""
    if is_conflict(error):
        return True
    text = str(error)
    return (
        isinstance(error, duckdb.IOException) and "Cannot open file" in text and "ducklake" in text
    )


def log_failure(log: logging.Logger, error: BaseException, what: str) -> None:
    """Log a failed round of background work that will be run again: one line for a
    transient failure (``is_transient``), the traceback for anything else."""
    if is_transient(error):
        log.warning("%s failed, retried at the next round: %s", what, error)
    else:
        log.error("%s failed", what, exc_info=error)
