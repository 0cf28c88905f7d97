"""The span processor: the token id onto every span started under a request, and no
token-bearing URL on any span at creation.

In this process the id comes from the request tokentrace is handling; in a downstream
service it arrives in W3C baggage (``tokentrace.token.id``), which the OTel propagators
carry on outgoing HTTP calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from opentelemetry import baggage
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind

from tokentrace import attributes as attr
from tokentrace._failsafe import log_internal_error
from tokentrace._redact import scrub_url_attributes
from tokentrace._request import current_request
from tokentrace._sensitive import sensitive_query_params

_TOKEN_ID_PATTERN: Final = re.compile(r"[0-9a-f]{32}")
_URL_KINDS: Final = (SpanKind.SERVER, SpanKind.CLIENT)


def baggage_token_id(context: Context | None) -> str | None:
    """The token id in baggage, if it has the shape of one (baggage is caller-controlled)."""
    value = baggage.get_baggage(attr.BAGGAGE_TOKEN_ID, context)
    if isinstance(value, str) and _TOKEN_ID_PATTERN.fullmatch(value):
        return value
    return None


def _attribute_dict(span: Span) -> Mapping[str, object] | None:
    """The span's attributes as a plain dict when the SDK keeps one (the public
    ``span.attributes`` goes through Python-level Mapping methods, microseconds per lookup
    on a path that runs for every span); the public view otherwise."""
    bounded = getattr(span, "_attributes", None)
    plain = getattr(bounded, "_dict", None)
    return plain if isinstance(plain, dict) else span.attributes


class TokenSpanProcessor(SpanProcessor):
    """Copies the request's token id onto each new span and scrubs URL attributes."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            state = current_request()
            if (
                state is not None
                and state.owns_server_span
                and state.span is None
                and span.kind is SpanKind.SERVER
            ):
                # tokentrace's own request span: all token attributes in one write
                state.span = span
                if state.token.span_attributes:
                    span.set_attributes(state.token.span_attributes)
                if state.token.token_id is None and state.accept_baggage:
                    upstream_id = baggage_token_id(parent_context)
                    if upstream_id is not None:  # a downstream service: the caller's token
                        span.set_attribute(attr.TOKEN_ID, upstream_id)
                return
            if state is None:
                token_id = baggage_token_id(parent_context)
            elif state.token.token_id is not None:
                token_id = state.token.token_id
            else:
                token_id = baggage_token_id(parent_context) if state.accept_baggage else None
            if token_id is not None:
                span.set_attribute(attr.TOKEN_ID, token_id)
            if span.kind not in _URL_KINDS or (
                state is not None and state.owns_server_span and span.kind is SpanKind.SERVER
            ):
                return  # no URL attributes, or already redacted before the span was made
            # Header attributes are added after start; URL ones are there from creation.
            span_attributes = _attribute_dict(span)
            if span_attributes:
                changes = scrub_url_attributes(span_attributes, sensitive_query_params())
                if changes:
                    span.set_attributes(changes)
        except Exception as error:  # never break span creation
            log_internal_error("span processor", error)

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
