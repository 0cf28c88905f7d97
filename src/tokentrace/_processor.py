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

from tokentrace import _redact
from tokentrace import attributes as attr
from tokentrace._failsafe import internal_error
from tokentrace._redact import (
    URL_ATTRIBUTES,
    scrub_header_attributes,
    scrub_text,
    scrub_url_attributes,
)
from tokentrace._request import current_request
from tokentrace._span_internals import (
    ending_view,
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
    """Copies the request's token id onto each new span; scrubs each span as it ends.

    Both run for every span, so they are written flat: plain ``try`` blocks rather than
    ``failsafe`` (whose three calls a block would cost), and the common case first."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:  # never break span creation
            state = current_request()
            if state is None:
                token_id = baggage_token_id(parent_context)
            elif state.span is None and state.owns_server_span and span.kind is SpanKind.SERVER:
                # tokentrace's own request span: the middleware writes all its token
                # attributes, with the outcome, in one write when the response starts.
                state.span = span
                return
            elif state.token.token_id is not None:
                token_id = state.token.token_id
            else:
                token_id = baggage_token_id(parent_context) if state.accept_baggage else None
            # (A span that names its own token, ``record_lifecycle``'s, writes it again
            # once started: no check here, on every span.)
            if token_id is not None:
                span.set_attribute(attr.TOKEN_ID, token_id)
        except Exception as error:
            internal_error("span processor", error)

    def _on_ending(self, span: Span) -> None:
        try:  # never break span ending
            plain, text = ending_view(span)
            if plain is None:
                return
            params, headers, headers_captured, hint = _redact.current_config
            for key in URL_ATTRIBUTES:  # the usual span has none, or none with a token
                value = plain.get(key)
                if isinstance(value, str) and "=" in value and hint.search(value) is not None:
                    plain.update(scrub_url_attributes(plain, params, hint))
                    break
            if headers_captured:
                plain.update(scrub_header_attributes(plain, params, headers))
            if text:
                state = current_request()
                if state is not None and state.token.secret:
                    secrets = state.token.secrets()
                    rewrite_event_strings(span, lambda text: scrub_text(text, secrets))
                    rewrite_status_description(span, lambda text: scrub_text(text, secrets))
        except Exception as error:
            internal_error("span scrubbing", error)
