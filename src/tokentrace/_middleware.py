"""What the ASGI and WSGI middleware share: their options, and the framework-neutral steps
from a request to a tagged span.

The options are declared once, here; the adapters (``_asgi``, ``_wsgi``) only hand over a
header lookup and the query string, and call these steps at the right moments of their
protocol.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from opentelemetry import baggage, context, trace
from opentelemetry.trace import Span, SpanKind

from tokentrace import attributes as attr
from tokentrace._analysis import NO_TOKEN, TokenAnalyzer
from tokentrace._extract import HeaderLookup
from tokentrace._failsafe import failsafe
from tokentrace._fingerprint import Fingerprinter, default_fingerprinter
from tokentrace._redact import register
from tokentrace._request import RequestState, current_request
from tokentrace._settings import (
    ENV_PROPAGATE,
    ENV_SUBJECT_PLAIN,
    OwnerResolver,
    Settings,
    SourcesOption,
    env_flag,
    resolve_sources,
)
from tokentrace._setup import install_processor

App = TypeVar("App")


def is_server_span(span: Span) -> bool:
    """Whether ``span`` is a live SERVER span opened by other instrumentation."""
    return span.is_recording() and getattr(span, "kind", None) is SpanKind.SERVER


class TokenMiddleware(Generic[App]):
    """Tag each request's SERVER span with the token's fingerprint and auth outcome.

    Options (keyword-only; an unset one falls back to its environment variable):

    - ``sources``: where to look for the token, in order, such as
      ``"header:authorization,query:api_key,cookie:session"`` (``TOKENTRACE_SOURCES``);
    - ``propagate``: carry the token id to downstream calls in W3C baggage
      (``TOKENTRACE_PROPAGATE``, default true);
    - ``accept_baggage``: trust a token id arriving in baggage when the request has no
      token of its own (turn off on an internet-facing edge; default true);
    - ``subject_plain``: record JWT ``sub`` / Basic users in plain text instead of
      fingerprinted (``TOKENTRACE_SUBJECT_PLAIN``, default false);
    - ``owner_resolver``: ``(token_id, claims) -> Owner | None``, called once per token;
    - ``fingerprinter``: the key to fingerprint with (default: ``TOKENTRACE_HASH_KEY``);
    - ``tracer_provider``, and any other keyword: passed to contrib's
      ``OpenTelemetryMiddleware`` (``excluded_urls``, ``http_capture_headers_server_request``,
      ...).
    """

    def __init__(
        self,
        app: App,
        /,
        *,
        sources: SourcesOption = None,
        propagate: bool | None = None,
        accept_baggage: bool = True,
        subject_plain: bool | None = None,
        owner_resolver: OwnerResolver | None = None,
        fingerprinter: Fingerprinter | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        **otel_options: Any,
    ) -> None:
        self.settings = Settings(
            sources=resolve_sources(sources),
            propagate=env_flag(ENV_PROPAGATE, True) if propagate is None else propagate,
            accept_baggage=accept_baggage,
            subject_plain=(
                env_flag(ENV_SUBJECT_PLAIN, False) if subject_plain is None else subject_plain
            ),
            owner_resolver=owner_resolver,
        )
        register(self.settings.redact_query_params, self.settings.sensitive_headers)
        self.analyzer = TokenAnalyzer(self.settings, fingerprinter or default_fingerprinter())
        self._tracer_provider = tracer_provider
        self._processor_installed = install_processor(tracer_provider)
        self._instrument(app, tracer_provider, otel_options)

    def _instrument(
        self, app: App, tracer_provider: trace.TracerProvider | None, otel_options: dict[str, Any]
    ) -> None:
        """Wrap ``app`` in contrib's middleware (each adapter its own)."""
        raise NotImplementedError

    def begin(self, header: HeaderLookup, query_string: str) -> RequestState:
        """Analyse the request. Never raises: on an internal error the request goes on,
        traced but untagged."""
        if not self._processor_installed:  # the app may set OpenTelemetry up after us
            self._processor_installed = install_processor(self._tracer_provider)
        token = NO_TOKEN
        with failsafe("request analysis"):
            token = self.analyzer.analyze(header, query_string)
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

    @staticmethod
    def tag(state: RequestState, span: Span) -> None:
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
