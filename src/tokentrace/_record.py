"""What the application tells tokentrace: auth outcomes and token lifecycle events."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from tokentrace import attributes as attr
from tokentrace._failsafe import failsafe
from tokentrace._fingerprint import default_fingerprinter
from tokentrace._redact import query_param_pattern, scrub_text, sensitive_query_params
from tokentrace._request import current_request
from tokentrace._version import __version__
from tokentrace.attributes import LIFECYCLE_EVENTS, REDACTED, AuthOutcome


def parse_outcome(value: str | AuthOutcome) -> AuthOutcome:
    """Validate an outcome given by the app; raises ValueError naming the allowed values."""
    try:
        return AuthOutcome(value)
    except ValueError:
        allowed = ", ".join(outcome.value for outcome in AuthOutcome)
        raise ValueError(f"unknown auth outcome {value!r}; expected one of: {allowed}") from None


def present(values: dict[str, str | None]) -> dict[str, AttributeValue]:
    """The optional attributes that were given (empty strings count as not given)."""
    return {key: value for key, value in values.items() if value}


def scope_list(scopes: str | Sequence[str]) -> list[str]:
    """``"a b"`` (an OAuth scope string) or ``["a", "b"]`` → ``["a", "b"]``."""
    if isinstance(scopes, str):
        return scopes.split()
    return [str(scope) for scope in scopes]


def clean_reason(reason: str, secrets: Sequence[str]) -> str:
    """The app's reason without the request's token in any form, nor token-bearing URL
    parameters (``... for /x?api_key=...``)."""
    cleaned = scrub_text(reason, secrets)
    return query_param_pattern(sensitive_query_params()).sub(rf"\g<1>{REDACTED}", cleaned)


def record_auth(
    outcome: str | AuthOutcome,
    *,
    reason: str | None = None,
    owner: str | None = None,
    owner_type: str | None = None,
    name: str | None = None,
    scopes: str | Sequence[str] | None = None,
    required_scopes: str | Sequence[str] | None = None,
) -> None:
    """Record the outcome of the app's own authentication on the current request's span.

    Call it from the code that decides (a FastAPI dependency, a Flask ``before_request``,
    a Django authentication backend). It wins over the outcome tokentrace would infer from
    the status code. ``outcome`` must be one of :class:`AuthOutcome` (ValueError if not,
    because that is a programming error); anything else that goes wrong is logged and
    ignored. ``reason`` is a short human text: if it contains the request's raw token, the
    token is cut out.
    """
    parsed = parse_outcome(outcome)
    with failsafe("record_auth"):
        state = current_request()
        span = (state.span if state is not None else None) or trace.get_current_span()
        values: dict[str, AttributeValue] = {
            attr.AUTH_OUTCOME: parsed.value,
            attr.AUTH_OUTCOME_SOURCE: "recorded",
        }
        if reason:
            values[attr.AUTH_REASON] = clean_reason(reason, state.token.secrets() if state else ())
        values |= present(
            {attr.TOKEN_OWNER: owner, attr.TOKEN_OWNER_TYPE: owner_type, attr.TOKEN_NAME: name}
        )
        if scopes is not None:
            values[attr.TOKEN_SCOPES] = scope_list(scopes)
        if required_scopes is not None:
            values[attr.AUTH_REQUIRED_SCOPES] = scope_list(required_scopes)
        if state is not None:
            state.recorded = parsed
        if span.is_recording():
            span.set_attributes(values)


def record_lifecycle(
    event: str,
    *,
    token: str | None = None,
    token_id: str | None = None,
    new_token: str | None = None,
    new_token_id: str | None = None,
    actor: str | None = None,
    expires_at: int | None = None,
) -> str:
    """Record a token lifecycle event (created, rotated, revoked, renewed, expired).

    Give the raw ``token`` (fingerprinted here, never exported) or its ``token_id``; for a
    rotation also the replacement. Emits a short INTERNAL span ``tokentrace.lifecycle`` that
    the backend turns into the token's lifecycle. Returns the token id.
    """
    if event not in LIFECYCLE_EVENTS:
        raise ValueError(f"unknown lifecycle event {event!r}; expected one of {LIFECYCLE_EVENTS}")
    fingerprinter = default_fingerprinter()
    subject_id = token_id or (fingerprinter.fingerprint(token) if token else None)
    if subject_id is None:
        raise ValueError("record_lifecycle needs token= or token_id=")
    values: dict[str, AttributeValue] = {
        attr.TOKEN_ID: subject_id,
        attr.TOKEN_KEY_ID: fingerprinter.key_id,
        attr.LIFECYCLE_EVENT: event,
    }
    replacement = new_token_id or (fingerprinter.fingerprint(new_token) if new_token else None)
    values |= present({attr.LIFECYCLE_NEW_TOKEN_ID: replacement, attr.LIFECYCLE_ACTOR: actor})
    if expires_at is not None:
        values[attr.TOKEN_EXPIRES_AT] = int(expires_at)
    tracer = trace.get_tracer("tokentrace", __version__)
    with tracer.start_as_current_span(
        attr.LIFECYCLE_EVENT_NAME, kind=trace.SpanKind.INTERNAL, attributes=values
    ) as span:
        # The span processor stamps every new span with the current request's token id;
        # this one names the token of the event (a rotation inside a request, say).
        span.set_attribute(attr.TOKEN_ID, subject_id)
    return subject_id
