"""The correlation queries: what the API and the commands answer, read from the derived
per-token tables (and from ``spans`` for a single trace), each query in its own module
with its SQL.

Every function takes a DuckDB cursor (from ``Database.reader()``) and returns the pydantic
shapes of :mod:`.results`; values are always bound as parameters. Queries only read: they
never write a table, never refresh the derived tables (the caller catches them up first)
and know nothing of HTTP.
"""

from __future__ import annotations

from .dependencies import global_dependencies, token_dependencies
from .filters import QueryFilters, Window
from .findings import FindingFilters, find_finding, list_findings
from .lifecycle import LifecycleThresholds, lifecycle_event, token_lifecycle
from .report import token_report
from .timeline import token_timeline
from .token_errors import token_errors
from .token_summary import token_summary
from .tokens import KnownToken, find_token, list_tokens
from .traces import trace_detail

__all__ = [
    "FindingFilters",
    "KnownToken",
    "LifecycleThresholds",
    "QueryFilters",
    "Window",
    "find_finding",
    "find_token",
    "global_dependencies",
    "lifecycle_event",
    "list_findings",
    "list_tokens",
    "token_dependencies",
    "token_errors",
    "token_lifecycle",
    "token_report",
    "token_summary",
    "token_timeline",
    "trace_detail",
]
