"""The correlation queries over the ``spans`` table, each in its own module with its SQL.

Every function takes a DuckDB cursor (from ``Database.reader()``) and returns the pydantic
shapes of :mod:`.results`; values are always bound as parameters.
"""

from __future__ import annotations

from .compaction import compact_if_due
from .dependencies import global_dependencies, token_dependencies
from .filters import QueryFilters, Window
from .linking import DerivedTables, refresh_derived
from .timeline import token_timeline
from .token_errors import token_errors
from .token_summary import token_summary
from .tokens import KnownToken, find_token, list_tokens
from .traces import trace_detail

__all__ = [
    "DerivedTables",
    "KnownToken",
    "QueryFilters",
    "Window",
    "compact_if_due",
    "find_token",
    "global_dependencies",
    "list_tokens",
    "refresh_derived",
    "token_dependencies",
    "token_errors",
    "token_summary",
    "token_timeline",
    "trace_detail",
]
