"""Which errors are lost write conflicts (run the transaction again) and which are not."""

from __future__ import annotations

import duckdb
import pytest

from tokentrace_backend.storage.conflicts import is_conflict, is_transient, retry_on_conflict

LAKE_CONFLICT = (
    "TransactionContext Error: Failed to commit: Failed to commit DuckLake transaction.\n"
    'Transaction conflict - attempting to delete from table with index "7" - but another '
    "transaction has compacted it"
)


def _rollback_after(commit_error: Exception) -> duckdb.Error:
    """What a caller's ROLLBACK raises after DuckDB already rolled the failed COMMIT back."""
    try:
        try:
            raise commit_error
        except duckdb.Error:
            raise duckdb.TransactionException(  # noqa: B904 - as a ROLLBACK in an except
                "TransactionContext Error: cannot rollback - no transaction is active"
            )
    except duckdb.Error as error:
        return error
    raise AssertionError("unreachable")


def test_a_conflict_is_one_and_so_is_the_failed_rollback_after_it() -> None:
    conflict = duckdb.TransactionException(LAKE_CONFLICT)
    assert is_conflict(conflict)
    assert is_transient(conflict)
    assert is_conflict(_rollback_after(conflict))
    serialization = duckdb.Error("ERROR:  could not serialize access due to concurrent update")
    assert is_conflict(serialization)


def test_other_errors_are_not_conflicts() -> None:
    assert not is_conflict(duckdb.CatalogException("Table with name nope does not exist"))
    assert not is_conflict(_rollback_after(duckdb.IOException("disk full")))
    assert not is_conflict(ValueError("conflict"))  # not DuckDB's


def test_a_lost_conflict_is_run_again_and_anything_else_is_raised() -> None:
    attempts = []

    def twice_lost() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise _rollback_after(duckdb.TransactionException(LAKE_CONFLICT))
        return "committed"

    assert retry_on_conflict(twice_lost, what="test") == "committed"
    assert len(attempts) == 3

    def broken() -> None:
        raise duckdb.CatalogException("Table with name nope does not exist")

    with pytest.raises(duckdb.CatalogException):
        retry_on_conflict(broken, what="test")
