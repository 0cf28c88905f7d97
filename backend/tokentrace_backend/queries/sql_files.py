"""Loads the query package's ``.sql`` files and runs them with named parameters.

Values always travel as DuckDB parameters (``$name``), never inside the SQL text. DuckDB
rejects parameters a statement does not use, so :func:`run` passes only the ones the
statement names; callers can hand over one dictionary of everything they know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import duckdb

_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_LINE_COMMENT = re.compile(r"--[^\n]*")


@cache
def load_sql(name: str) -> str:
    """Return the text of ``queries/<name>.sql``; cached, the files never change at run time."""
    return resources.files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")


def run(
    cursor: duckdb.DuckDBPyConnection, sql: str, parameters: Mapping[str, Any]
) -> duckdb.DuckDBPyConnection:
    """Execute ``sql`` with the subset of ``parameters`` that it references."""
    used = set(_PARAMETER.findall(_LINE_COMMENT.sub("", sql)))
    missing = used - parameters.keys()
    if missing:
        raise KeyError(f"SQL parameters without a value: {sorted(missing)}")
    return cursor.execute(sql, {name: parameters[name] for name in used})
