"""The span processor: the token id onto every span started under a request, and no
token on any span that ends.

In this process the id comes from the request tokentrace is handling; in a downstream
service it arrives in W3C baggage (``tokentrace.token.id``), which the OTel propagators
carry on outgoing HTTP calls.

Raw tokens can reach spans tokentrace does not make: a nested instrumentation that reads
the restored query string, an HTTP client span with ``?api_key=`` or a captured
``Authorization`` header, an exception message that quotes the token. When any span
ends, before an exporter sees it, the processor rewrites token-bearing URL attributes,
sensitive captured headers (and URL-valued ones such as ``Location``), and every mention
of the current request's raw token in event attributes and the status description.
"""

from __future__ import annotations

import re
from typing import Final

from opentelemetry import baggage
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor
from opentelemetry.trace import SpanKind

from tokentrace import attributes as attr
from tokentrace._failsafe import failsafe
from tokentrace._redact import (
    headers_may_be_captured,
    scrub_header_attributes,
    scrub_text,
    scrub_url_attributes,
    sensitive_headers,
    sensitive_query_params,
)
from tokentrace._request import current_request
from tokentrace._span_internals import (
    attribute_dict,
    rewrite_event_strings,
    rewrite_status_description,
)

_TOKEN_ID_PATTERN: Final = re.compile(r"[0-9a-f]{32}")


def baggage_token_id(context: Context | None) -> str | None:
    """The token id in baggage, if it has the shape of one (baggage is caller-controlled)."""
    value = baggage.get_baggage(attr.BAGGAGE_TOKEN_ID, context)
    if isinstance(value, str) and _TOKEN_ID_PATTERN.fullmatch(value):
        return value
    return None


class TokenSpanProcessor(SpanProcessor):
    """Copies the request's token id onto each new span; scrubs each span as it ends."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        with failsafe("span processor"):  # never break span creation
            self._tag(span, parent_context)

    def _tag(self, span: Span, parent_context: Context | None) -> None:
        state = current_request()
        plain = attribute_dict(span)
        if plain is not None and attr.TOKEN_ID in plain:
            return  # the span names its token itself (record_lifecycle)
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

    def _on_ending(self, span: Span) -> None:
        with failsafe("span scrubbing"):  # never break span ending
            self._scrub(span)

    def _scrub(self, span: Span) -> None:
        plain = attribute_dict(span)
        if plain is None:
            return
        changes = scrub_url_attributes(plain, sensitive_query_params())
        if headers_may_be_captured():
            changes.update(
                scrub_header_attributes(plain, sensitive_query_params(), sensitive_headers())
            )
        if changes:
            plain.update(changes)
        state = current_request()
        if state is None or not state.token.secret:
            return
        secrets = state.token.secrets()
        rewrite_event_strings(span, lambda text: scrub_text(text, secrets))
        rewrite_status_description(span, lambda text: scrub_text(text, secrets))
