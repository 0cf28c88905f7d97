"""``token_report``: everything known about one token, in one document.

The report is the answers of the per-token queries (summary, lifecycle, errors,
dependencies, findings) put together, read in one transaction so that its sections agree
with each other while the background refresh commits beside it. It holds no SQL of its
own, and only token ids (never a raw token).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

import duckdb

from .dependencies import token_dependencies
from .filters import QueryFilters
from .findings import FindingFilters, list_findings
from .lifecycle import LifecycleThresholds, token_lifecycle
from .results import ErrorPage, Finding, FindingPage, TokenLifecycle, TokenReport
from .timestamps import datetime_from_ns
from .token_errors import token_errors
from .token_summary import token_summary
from .tokens import KnownToken
from .traces import jaeger_trace_url

MAX_ERROR_GROUPS: Final = 100
"""Error groups in a report, largest first (``errors.next_offset`` says when there are more)."""
MAX_FINDINGS: Final = 100
"""Findings in a report, most recently updated first (``findings.next_offset`` likewise)."""

# A finding's evidence is JSON the detectors wrote; only well-formed trace ids become links.
_TRACE_ID: Final = re.compile(r"[0-9a-f]{32}")


def token_report(
    cursor: duckdb.DuckDBPyConnection,
    token: KnownToken,
    filters: QueryFilters,
    *,
    now_ns: int,
    thresholds: LifecycleThresholds,
    jaeger_url: str | None = None,
) -> TokenReport:
    """The token's report over the window of ``filters``, generated at ``now_ns``.

    The lifecycle and the findings are all time, as their own endpoints answer them; the
    rest is the window's.
    """
    cursor.begin()  # one snapshot for every section
    try:
        summary = token_summary(cursor, token, filters, now_ns=now_ns, thresholds=thresholds)
        lifecycle = token_lifecycle(cursor, token.token_id, now_ns=now_ns, thresholds=thresholds)
        assert lifecycle is not None  # token_dim knows every KnownToken
        errors = token_errors(
            cursor, token, filters, limit=MAX_ERROR_GROUPS, offset=0, jaeger_url=jaeger_url
        )
        dependencies = token_dependencies(cursor, token, filters)
        findings = list_findings(
            cursor, FindingFilters(token_id=token.token_id), limit=MAX_FINDINGS, offset=0
        )
    finally:
        cursor.rollback()  # it only read
    cited = cited_trace_ids(lifecycle, errors, findings)
    links = {trace_id: jaeger_trace_url(jaeger_url, trace_id) for trace_id in cited}
    return TokenReport(
        token_id=token.token_id,
        generated_at=datetime_from_ns(now_ns),
        since=datetime_from_ns(filters.window.since_ns),
        until=datetime_from_ns(filters.window.until_ns),
        service=filters.service,
        outcome=filters.outcome,
        jaeger_url=jaeger_url or None,
        trace_urls={trace_id: url for trace_id, url in links.items() if url is not None},
        summary=summary,
        lifecycle=lifecycle,
        errors=errors,
        dependencies=dependencies,
        findings=findings,
    )


def cited_trace_ids(
    lifecycle: TokenLifecycle, errors: ErrorPage, findings: FindingPage
) -> list[str]:
    """Every trace id the report cites, once each: the lifecycle spans', the error groups'
    examples, then the findings' evidence (well-formed ids only)."""
    cited: Iterable[str | None] = [
        *(event.trace_id for event in lifecycle.events),
        *(trace_id for group in errors.errors for trace_id in group.trace_ids),
        *(trace_id for finding in findings.findings for trace_id in evidence_trace_ids(finding)),
    ]
    return list(dict.fromkeys(trace_id for trace_id in cited if trace_id is not None))


def evidence_trace_ids(finding: Finding) -> list[str]:
    """The well-formed trace ids of a finding's evidence (``evidence.trace_ids``)."""
    trace_ids = finding.evidence.get("trace_ids")
    if not isinstance(trace_ids, list):
        return []
    return [t for t in trace_ids if isinstance(t, str) and _TRACE_ID.fullmatch(t)]
