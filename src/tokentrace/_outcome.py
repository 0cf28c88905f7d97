"""Authentication outcomes, and how tokentrace infers one when the app records none."""

from __future__ import annotations

import enum


class AuthOutcome(str, enum.Enum):
    """The values of ``tokentrace.auth.outcome``."""

    SUCCESS = "success"
    MISSING = "missing"
    MALFORMED = "malformed"
    INVALID = "invalid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    ERROR = "error"


def infer_outcome(
    status: int,
    *,
    has_token: bool,
    malformed: bool,
    expires_at: int | None,
    now: float,
) -> AuthOutcome | None:
    """The outcome a response status implies, or None when it says nothing about auth.

    401 without a token is ``missing`` (``malformed`` when an unusable credential was
    sent), 401 with ``exp`` in the past ``expired``, other 401 ``invalid``; 403 is
    ``forbidden``, 429 ``rate_limited``; a token with a status below 400 is ``success``.
    """
    if status == 401:
        if malformed:
            return AuthOutcome.MALFORMED
        if not has_token:
            return AuthOutcome.MISSING
        if expires_at is not None and expires_at < now:
            return AuthOutcome.EXPIRED
        return AuthOutcome.INVALID
    if status == 403:
        return AuthOutcome.FORBIDDEN
    if status == 429:
        return AuthOutcome.RATE_LIMITED
    if has_token and status < 400:
        return AuthOutcome.SUCCESS
    return None


def parse_outcome(value: str | AuthOutcome) -> AuthOutcome:
    """Validate an outcome given by the app; raises ValueError naming the allowed values."""
    try:
        return AuthOutcome(value)
    except ValueError:
        allowed = ", ".join(outcome.value for outcome in AuthOutcome)
        raise ValueError(f"unknown auth outcome {value!r}; expected one of: {allowed}") from None
