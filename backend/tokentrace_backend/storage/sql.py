"""The one way the backend holds SQL: statements worth a file are ``.sql`` files beside the
module that runs them, named by their path in the package (``load_sql("queries/tokens")``
reads ``tokentrace_backend/queries/tokens.sql``); a statement of a line or two stays inline
with its caller. Schema migrations are the exception: ``storage/schema`` is read in its
recorded order by :mod:`.migrations`.

Values always travel as DuckDB parameters (``$name``), never inside the SQL text. DuckDB
rejects parameters a statement does not use, so :func:`run` passes only the ones the
statement names; callers can hand over one dictionary of everything they know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Final

import duckdb

_BACKEND_PACKAGE: Final = "tokentrace_backend"
_PARAMETER: Final = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_LINE_COMMENT: Final = re.compile(r"--[^\n]*")


@cache
def load_sql(name: str) -> str:
    """The text of ``tokentrace_backend/<name>.sql``; cached, the files never change at run
    time."""
    path = resources.files(_BACKEND_PACKAGE).joinpath(f"{name}.sql")
    return path.read_text(encoding="utf-8")


def run(
    cursor: duckdb.DuckDBPyConnection, sql: str, parameters: Mapping[str, Any]
) -> duckdb.DuckDBPyConnection:
    """Execute ``sql`` with the subset of ``parameters`` that it references."""
    used = set(_PARAMETER.findall(_LINE_COMMENT.sub("", sql)))
    missing = used - parameters.keys()
    if missing:
        raise KeyError(f"SQL parameters without a value: {sorted(missing)}")
    return cursor.execute(sql, {name: parameters[name] for name in used})


def run_script(
    cursor: duckdb.DuckDBPyConnection, sql: str, parameters: Mapping[str, Any] | None = None
) -> None:
    """Execute the statements of ``sql`` (separated by ``;``) in order, each with the
    ``parameters`` it references."""
    for statement in sql.split(";"):
        if statement.strip():
            run(cursor, statement, parameters or {})
