"""The derived per-token tables: trace linking, their incremental refresh, compaction and
the background thread that keeps them caught up.

Owns ``token_dim``, ``token_requests``, ``token_calls``, ``token_failures``,
``token_lifecycle``, ``call_minutes`` and their bookkeeping (``derived_state``,
``derived_sorted_rows``; schema in ``storage/schema/1NN_*.sql``), and the SQL that
maintains them (``*.sql`` here). It reads ``spans`` and writes only its own tables; the
lifecycle events registered over the API are written here too (``lifecycle_registration``).
Queries read what it maintains (and reuse its linking for single traces); it never answers
HTTP and never writes spans. Detectors belong beside it, reading what is new by batch.
"""

from __future__ import annotations

from tokentrace_backend.derived.background import (
    DEFAULT_INTERVAL_SECONDS,
    BackgroundRefresh,
    IngestActivity,
    RefreshSchedule,
)
from tokentrace_backend.derived.compaction import compact_if_due
from tokentrace_backend.derived.lifecycle_registration import (
    LifecycleRegistration,
    register_lifecycle,
)
from tokentrace_backend.derived.refresh import (
    DerivedTables,
    derived_tables_of,
    linked_spans_sql,
    refresh_derived,
)

__all__ = [
    "DEFAULT_INTERVAL_SECONDS",
    "BackgroundRefresh",
    "DerivedTables",
    "IngestActivity",
    "LifecycleRegistration",
    "RefreshSchedule",
    "compact_if_due",
    "derived_tables_of",
    "linked_spans_sql",
    "refresh_derived",
    "register_lifecycle",
]
