"""Per-request state shared by the adapters, the span processor and ``record_auth``, and
the auth outcome a response implies when the app records none.

The state lives in a context variable, so ``record_auth`` called from the app's own auth
code (a FastAPI dependency, a Flask ``before_request``, a Django backend) finds the
request's SERVER span even when another span is current.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Final

from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from tokentrace import attributes as attr
from tokentrace._analysis import TokenInfo
from tokentrace.attributes import AuthOutcome


class RequestState:
    """One request as tokentrace sees it (a plain slotted class: one per request)."""

    __slots__ = ("accept_baggage", "outcome_written", "owns_server_span", "pending", "recorded",
                 "saved", "span", "token", "upstream_id")  # fmt: skip

    def __init__(self, token: TokenInfo, accept_baggage: bool = True) -> None:
        self.token = token
        self.accept_baggage = accept_baggage
        self.owns_server_span = False  # tokentrace opened it, from a pre-redacted request
        self.span: Span | None = None
        self.recorded: AuthOutcome | None = None
        self.outcome_written = False
        # The token attributes still to write on ``span`` (with the outcome, in one write,
        # when the response starts; or as the request leaves, if it never starts one).
        self.pending = False
        self.upstream_id: str | None = None  # a caller's token id, from baggage
        self.saved: dict[str, object] = {}  # raw values hidden from the OTel layer


_current: ContextVar[RequestState | None] = ContextVar("tokentrace_request", default=None)

# The context variable's own methods (C calls), not Python wrappers: they run several times
# per request and per span.
current_request: Final[Callable[[], RequestState | None]] = _current.get
"""The request tokentrace is handling in this context, if any."""
enter: Final[Callable[[RequestState], Token[RequestState | None]]] = _current.set
leave: Final[Callable[[Token[RequestState | None]], None]] = _current.reset


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


_INFERRED: Final[dict[AuthOutcome, dict[str, AttributeValue]]] = {
    outcome: {attr.AUTH_OUTCOME: outcome.value, attr.AUTH_OUTCOME_SOURCE: "inferred"}
    for outcome in AuthOutcome
}


def outcome_attributes(state: RequestState, status: int) -> dict[str, AttributeValue]:
    """The outcome attributes to write when the response starts (empty if already known)."""
    if state.recorded is not None or state.outcome_written:
        return {}
    token = state.token
    outcome = infer_outcome(
        status,
        has_token=token.token_id is not None,
        malformed=token.malformed,
        expires_at=token.expires_at,
        now=time.time() if token.expires_at is not None else 0.0,
    )
    if outcome is None:
        return {}
    return _INFERRED[outcome]


def write_outcome(state: RequestState, status: int) -> None:
    """Called once, when the response starts (before the OTel layer can end the span):
    the token attributes still pending and the inferred outcome, in one write."""
    values = outcome_attributes(state, status)
    state.outcome_written = True
    if state.pending:
        values = pending_attributes(state) | values
    span = state.span
    if values and span is not None and span.is_recording():
        span.set_attributes(values)


def pending_attributes(state: RequestState) -> dict[str, AttributeValue]:
    """The token attributes not yet written to the request span (and now marked written)."""
    state.pending = False
    if state.upstream_id is not None:
        return state.token.span_attributes | {attr.TOKEN_ID: state.upstream_id}
    return state.token.span_attributes


def flush(state: RequestState) -> None:
    """Write the pending token attributes now: the request ends without a response start
    (an exception, a disconnect), or its span would otherwise end first."""
    if state.pending:
        values = pending_attributes(state)
        span = state.span
        if values and span is not None and span.is_recording():
            span.set_attributes(values)
