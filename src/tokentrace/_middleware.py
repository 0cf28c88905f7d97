"""What the ASGI and WSGI middleware share: their options, and the framework-neutral steps
from a request to a tagged span.

The options are declared once, here; the adapters (``_asgi``, ``_wsgi``) only hand over a
header lookup and the query string, and call these steps at the right moments of their
protocol.
"""

from __future__ import annotations

from typing import Any, Final, Generic, TypeVar

from opentelemetry import baggage, context, trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind

from tokentrace import attributes as attr
from tokentrace._analysis import NO_TOKEN, TokenAnalyzer
from tokentrace._extract import HeaderLookup
from tokentrace._failsafe import internal_error
from tokentrace._fingerprint import Fingerprinter, default_fingerprinter
from tokentrace._processor import baggage_token_id
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

# Contrib's arguments that make it record header values (its environment variables do too).
HEADER_CAPTURE_ARGUMENTS: Final = (
    "http_capture_headers_server_request",
    "http_capture_headers_server_response",
)


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
        self._propagate = self.settings.propagate
        self._accept_baggage = accept_baggage
        register(
            self.settings.redact_query_params,
            self.settings.sensitive_headers,
            captures_headers=any(otel_options.get(name) for name in HEADER_CAPTURE_ARGUMENTS),
        )
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
        try:
            token = self.analyzer.analyze(header, query_string)
        except Exception as error:
            internal_error("request analysis", error)
            token = NO_TOKEN
        return RequestState(token, self._accept_baggage)

    @staticmethod
    def claim_server_span(state: RequestState) -> Span:
        """The live span this request runs under, and whether tokentrace must open the
        request's SERVER span itself (``state.owns_server_span``): yes unless another
        instrumentation already opened one for this request. A SERVER span claimed by an
        outer tokentrace request (an in-process call to another app) is not ours to tag."""
        existing = trace.get_current_span()
        if existing is INVALID_SPAN:  # the usual case: nothing open yet
            state.owns_server_span = True
            return existing
        outer = current_request()
        state.owns_server_span = not is_server_span(existing) or (
            outer is not None and outer.span is existing
        )
        return existing

    @staticmethod
    def tag(state: RequestState, span: Span) -> None:
        """Make ``span`` the request span. Its token attributes are written with the
        outcome, in one write, when the response starts (``write_outcome``), or by
        ``flush`` if the request ends without one. A span tokentrace opened also takes a
        caller's token id from baggage when the request has none of its own (if allowed)."""
        state.span = span
        state.pending = True
        if state.token.token_id is None and state.accept_baggage and state.owns_server_span:
            state.upstream_id = baggage_token_id(None)

    def attach_context(self, state: RequestState) -> object | None:
        """Make the request's token id the one downstream calls carry in baggage (or take
        an untrusted or unwanted one out). Returns the context token to detach, if any."""
        token_id = state.token.token_id
        if token_id is not None and self._propagate:
            return context.attach(
                baggage.set_baggage(attr.BAGGAGE_TOKEN_ID, token_id, context.get_current())
            )
        if token_id is None and state.accept_baggage and self._propagate:
            return None  # a downstream service passes its caller's id on
        current = context.get_current()
        if baggage.get_baggage(attr.BAGGAGE_TOKEN_ID, current) is None:
            return None
        return context.attach(baggage.remove_baggage(attr.BAGGAGE_TOKEN_ID, current))
