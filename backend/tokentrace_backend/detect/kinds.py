"""The names of detection: anomaly kinds, severities and the states of a finding."""

from __future__ import annotations

import enum


class AnomalyKind(enum.StrEnum):
    """What a finding is about (the contract's anomaly kinds)."""

    NEW_ENDPOINT = "new_endpoint"
    NEW_NETWORK = "new_network"
    ODD_HOURS = "odd_hours"
    BURST = "burst"
    ERROR_SPIKE = "error_spike"
    AUTH_FAILURE_BURST = "auth_failure_burst"
    CREDENTIAL_STUFFING = "credential_stuffing"
    SCOPE_VIOLATION = "scope_violation"
    USE_AFTER_EXPIRY = "use_after_expiry"
    USE_AFTER_REVOCATION = "use_after_revocation"
    SHARED_TOKEN = "shared_token"  # noqa: S105 (a kind name, not a secret)
    TOKEN_IN_URL = "token_in_url"  # noqa: S105 (a kind name, not a secret)


class Severity(enum.StrEnum):
    """How urgent a finding is, in increasing order."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class FindingState(enum.StrEnum):
    """A finding is open until someone acknowledges or resolves it."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
