"""The kinds of audit records: one vocabulary for who appends them and who reads them."""

from __future__ import annotations

from enum import StrEnum


class RecordKind(StrEnum):
    """What an audit record says happened (docs/audit.md#what-is-recorded)."""

    TOKEN_FIRST_USE = "token.first_use"  # noqa: S105 (a record kind, not a secret)
    """The token's first span was derived (the audit follower, from ``token_dim``)."""
    TOKEN_NEW_NETWORK = "token.new_network"  # noqa: S105 (a record kind, not a secret)
    """A ``new_network`` finding: its first use from a network outside its baseline."""
    LIFECYCLE_RECORDED = "lifecycle.recorded"
    """An app recorded a lifecycle event as a span (``token_lifecycle`` source 'span')."""
    LIFECYCLE_REGISTERED = "lifecycle.registered"
    """``POST /api/lifecycle`` registered an event (same transaction)."""
    FINDING_OPENED = "finding.opened"
    """A detector opened a finding (every kind but ``new_network``)."""
    FINDING_STATE_CHANGED = "finding.state_changed"
    """``PATCH /api/anomalies/{id}`` acknowledged, resolved or reopened a finding."""
    TOKEN_ERASED = "token.erased"  # noqa: S105 (a record kind, not a secret)
    """A token's rows were erased (``DELETE /api/tokens/{id}``, ``tokentrace erase``)."""
    RETENTION_RUN = "retention.run"
    """A retention run deleted old rows (appended by the retention job)."""
