"""Retention: how long what is stored is kept (``serve --retention``, ``--rollup-retention``;
docs/retention.md).

Owns the daily per-token roll-ups (``token_request_days``, ``token_call_days``,
``token_failure_days``) and the retention boundary (``retention_state``; migrations 5NN),
and the periodic job (``expiry``) that rolls up the derived rows of the days about to
expire and deletes, in chunks, the expired spans, derived rows and detector profiles. It
is the one stage besides ``storage``, ``derived`` and ``detect`` that deletes from their
tables, only rows older than the boundary; it runs as a follower of the background refresh
(``derived.background``), in its thread. It never answers HTTP; the token summary reads the
roll-ups (``queries/token_summary``).
"""

from __future__ import annotations

from tokentrace_backend.retention.expiry import Retention, RetentionRun, RunReport

__all__ = ["Retention", "RetentionRun", "RunReport"]
