"""The framework-neutral half of the middleware: from a request to a tagged span.

The ASGI and WSGI adapters stay thin: they hand over a header lookup and the query
string, and call these steps at the right moments of their protocol.
"""

from __future__ import annotations

from opentelemetry import baggage, context, trace
from opentelemetry.trace import Span, SpanKind

from tokentrace import attributes as attr
from tokentrace._analysis import NO_TOKEN, TokenAnalyzer
from tokentrace._extract import HeaderLookup
from tokentrace._failsafe import log_internal_error
from tokentrace._fingerprint import Fingerprinter, default_fingerprinter
from tokentrace._request import RequestState, current_request
from tokentrace._sensitive import register
from tokentrace._settings import OwnerResolver, resolve_settings
from tokentrace._setup import install_processor


def is_server_span(span: Span) -> bool:
    """Whether ``span`` is a live SERVER span opened by other instrumentation."""
    return span.is_recording() and getattr(span, "kind", None) is SpanKind.SERVER


class RequestTagger:
    """Settings, fingerprints and the per-request steps shared by both adapters."""

    def __init__(
        self,
        *,
        sources: str | list[str] | tuple[str, ...] | None,
        propagate: bool | None,
        accept_baggage: bool,
        subject_plain: bool | None,
        owner_resolver: OwnerResolver | None,
        fingerprinter: Fingerprinter | None,
        tracer_provider: trace.TracerProvider | None,
    ) -> None:
        self.settings = resolve_settings(
            sources=sources,
            propagate=propagate,
            accept_baggage=accept_baggage,
            subject_plain=subject_plain,
            owner_resolver=owner_resolver,
        )
        register(self.settings.redact_query_params, self.settings.sensitive_headers)
        self.analyzer = TokenAnalyzer(self.settings, fingerprinter or default_fingerprinter())
        self._tracer_provider = tracer_provider
        self._processor_installed = install_processor(tracer_provider)

    def begin(self, header: HeaderLookup, query_string: str) -> RequestState:
        """Analyse the request. Never raises: on an internal error the request goes on,
        traced but untagged."""
        if not self._processor_installed:  # the app may set OpenTelemetry up after us
            self._processor_installed = install_processor(self._tracer_provider)
        try:
            token = self.analyzer.analyze(header, query_string)
        except Exception as error:
            log_internal_error("request analysis", error)
            token = NO_TOKEN
        return RequestState(token=token, accept_baggage=self.settings.accept_baggage)

    @staticmethod
    def claim_server_span(state: RequestState) -> Span:
        """The live span this request runs under, and whether tokentrace must open the
        request's SERVER span itself (``state.owns_server_span``): yes unless another
        instrumentation already opened one for this request. A SERVER span claimed by an
        outer tokentrace request (an in-process call to another app) is not ours to tag."""
        existing = trace.get_current_span()
        outer = current_request()
        state.owns_server_span = not is_server_span(existing) or (
            outer is not None and outer.span is existing
        )
        return existing

    def tag(self, state: RequestState, span: Span) -> None:
        """Put the token attributes on the request span (unless the span processor did it
        when the span started)."""
        if state.span is not span:
            state.span = span
            values = state.token.span_attributes
            if values and span.is_recording():
                span.set_attributes(values)

    def attach_context(self, state: RequestState) -> object | None:
        """Make the request's token id the one downstream calls carry in baggage (or take
        an untrusted or unwanted one out). Returns the context token to detach, if any."""
        token_id = state.token.token_id
        if token_id is not None and self.settings.propagate:
            return context.attach(baggage.set_baggage(attr.BAGGAGE_TOKEN_ID, token_id))
        if token_id is None and state.accept_baggage and self.settings.propagate:
            return None  # a downstream service passes its caller's id on
        current = context.get_current()
        if baggage.get_baggage(attr.BAGGAGE_TOKEN_ID, current) is None:
            return None
        return context.attach(baggage.remove_baggage(attr.BAGGAGE_TOKEN_ID, current))
