"""``tokentrace.ASGIMiddleware``: tokens on the SERVER span of any ASGI app.

Built on contrib's ``OpenTelemetryMiddleware``, which it wraps (``self.app``), so that
FastAPI's native telemetry, which looks for that class in the middleware stack, steps
aside. Three cases, one tagged SERVER span each:

1. nothing else opens a server span: the request goes through the OTel middleware, with
   token-bearing query parameters already redacted in the scope it reads;
2. contrib instrumentation (``FastAPIInstrumentor``) already opened one: tag it, and
   scrub the URL and header attributes it recorded;
3. FastAPI native telemetry: inside the stack it sees the OTel middleware and stands
   down; wrapping a FastAPI app from outside, tokentrace marks the scope as handled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opentelemetry import context, trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.trace import Span
from opentelemetry.util.http import (
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS,
    get_custom_headers,
)

from tokentrace._failsafe import internal_error
from tokentrace._middleware import TokenMiddleware
from tokentrace._redact import redact_query_bytes, redaction_hint, scrub_span
from tokentrace._request import (
    RequestState,
    current_request,
    enter,
    flush,
    leave,
    write_outcome,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_FASTAPI_TELEMETRY_KEY = "fastapi.telemetry"
_RAW_QUERY = "query_string"


def _header_lookup(scope: Scope) -> Callable[[str], str | None]:
    headers = scope.get("headers") or ()

    def lookup(name: str) -> str | None:
        wanted = name.encode("latin-1")
        for key, value in headers:
            if key.lower() == wanted:
                return bytes(value).decode("latin-1")
        return None

    return lookup


def name_after_route(span: Span, scope: Scope) -> None:
    """Give our span the matched route (``http.route``, ``GET /orders/{id}``) as contrib's
    FastAPI/Starlette instrumentations do; the plain ASGI middleware cannot know it."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str) or not span.is_recording():
        return
    http_route = scope.get("root_path", "") + template
    span.set_attribute("http.route", http_route)
    method = scope.get("method")
    if method:
        span.update_name(f"{method} {http_route}")


class ASGIMiddleware(TokenMiddleware[ASGIApp]):
    """Tag each HTTP request's SERVER span with the token's fingerprint and auth outcome.

    ``app.add_middleware(tokentrace.ASGIMiddleware)`` or ``ASGIMiddleware(app)``; the
    options are :class:`~tokentrace._middleware.TokenMiddleware`'s. Headers named in
    ``http_capture_headers_sanitize_fields`` (or its environment variable) are sanitized
    along with the credential headers. WebSocket connections are tagged when another
    instrumentation opened a span for them (their messages pass through untouched);
    lifespan scopes pass through untouched.
    """

    def _instrument(
        self,
        app: ASGIApp,
        tracer_provider: trace.TracerProvider | None,
        otel_options: dict[str, Any],
    ) -> None:
        self._params = self.settings.redact_query_params
        self._hint = redaction_hint(self._params)
        self._headers = self.settings.sensitive_headers
        sanitize = set(
            otel_options.pop("http_capture_headers_sanitize_fields", None)
            or get_custom_headers(OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS)
            or []
        )
        self._inner = app
        # ``app`` is the attribute FastAPI's native telemetry follows to find contrib.
        self.app = OpenTelemetryMiddleware(
            self._instrumented,
            tracer_provider=tracer_provider,
            http_capture_headers_sanitize_fields=sorted(sanitize | self._headers),
            **otel_options,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "websocket":
                await self._websocket(scope, receive, send)
            else:
                await self._inner(scope, receive, send)  # lifespan: untouched
            return
        raw_query = scope.get(_RAW_QUERY)
        query = bytes(raw_query).decode("latin-1") if raw_query else ""
        state = self.begin(_header_lookup(scope), query)
        try:
            existing = self.claim_server_span(state)
            owned = state.owns_server_span
            if _FASTAPI_TELEMETRY_KEY not in scope:
                # A FastAPI app inside would otherwise open a second SERVER span.
                state.saved[_FASTAPI_TELEMETRY_KEY] = True
                scope[_FASTAPI_TELEMETRY_KEY] = None
            if owned and query and self._hint.search(query) is not None:
                self._hide_raw_query(scope, state)
        except Exception as error:
            internal_error("ASGI request preparation", error)
            self._restore_scope(scope, state)  # the app gets its scope as it came
            await self._inner(scope, receive, send)
            return
        reset = enter(state)
        try:
            if owned:
                await self.app(scope, receive, send)
            else:
                await self._run(state, existing, scope, receive, send, scrub=True)
        finally:
            leave(reset)
            saved = state.saved
            if _RAW_QUERY in saved:
                scope[_RAW_QUERY] = saved[_RAW_QUERY]
            if saved.get(_FASTAPI_TELEMETRY_KEY):
                scope.pop(_FASTAPI_TELEMETRY_KEY, None)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket connection: tag the span another instrumentation opened for it
        (contrib's middleware outside this one, ``FastAPIInstrumentor``) with the token of
        the handshake, and make it the request of the spans started under the connection.
        tokentrace opens no span of its own here, and never touches the socket: ``receive``
        and ``send`` go to the app as they came, and a failure of tokentrace's part leaves
        the connection to the app alone."""
        reset = detach = span = None
        try:
            raw_query = scope.get(_RAW_QUERY)
            query = bytes(raw_query).decode("latin-1") if raw_query else ""
            state = self.begin(_header_lookup(scope), query)
            existing = self.claim_server_span(state)
            if not state.owns_server_span:  # a live SERVER span for this connection
                span = existing
                state.span = span
                if state.token.span_attributes:
                    span.set_attributes(state.token.span_attributes)
                scrub_span(span, self._params, self._headers)
            state.owns_server_span = False
            reset = enter(state)
            detach = self.attach_context(state)
        except Exception as error:
            internal_error("WebSocket tagging", error)
            self._leave_websocket(reset, detach, None)
            await self._inner(scope, receive, send)
            return
        try:
            await self._inner(scope, receive, send)
        finally:
            self._leave_websocket(reset, detach, span)

    def _leave_websocket(self, reset: object, detach: object, span: Span | None) -> None:
        try:
            if detach is not None:
                context.detach(detach)  # type: ignore[arg-type]
            if reset is not None:
                leave(reset)  # type: ignore[arg-type]
            if span is not None:
                scrub_span(span, self._params, self._headers)
        except Exception as error:
            internal_error("WebSocket tagging", error)

    def _hide_raw_query(self, scope: Scope, state: RequestState) -> None:
        raw = scope.get(_RAW_QUERY)
        if raw:
            redacted = redact_query_bytes(bytes(raw), self._params)
            if redacted is not raw:
                state.saved[_RAW_QUERY] = raw
                scope[_RAW_QUERY] = redacted

    @staticmethod
    def _restore_scope(scope: Scope, state: RequestState) -> None:
        if _RAW_QUERY in state.saved:
            scope[_RAW_QUERY] = state.saved[_RAW_QUERY]
        if state.saved.get(_FASTAPI_TELEMETRY_KEY):
            scope.pop(_FASTAPI_TELEMETRY_KEY, None)

    async def _instrumented(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Called by the OTel middleware inside its SERVER span (case 1)."""
        state = current_request()
        if state is None:  # not reached through __call__: nothing to add
            await self._inner(scope, receive, send)
            return
        if _RAW_QUERY in state.saved:
            scope[_RAW_QUERY] = state.saved[_RAW_QUERY]  # the app sees the real query
        # The span processor recorded the span as it started (else: the current one).
        span = state.span or trace.get_current_span()
        await self._run(state, span, scope, receive, send, scrub=False)

    async def _run(
        self,
        state: RequestState,
        span: Span,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        scrub: bool,
    ) -> None:
        try:
            self.tag(state, span)
            if scrub:
                scrub_span(span, self._params, self._headers)
            detach = self.attach_context(state)  # last: nothing can fail after it
        except Exception as error:
            internal_error("ASGI span tagging", error)
            state.pending = False
            await self._inner(scope, receive, send)
            return

        async def tagged_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                try:
                    write_outcome(state, int(message["status"]))
                    if not scrub:
                        name_after_route(span, scope)
                except Exception as error:
                    internal_error("ASGI auth outcome", error)
            elif scrub and kind == "http.response.body" and not message.get("more_body"):
                # Response headers were recorded at start; scrub before the span ends.
                self._scrub_safely(span)
            await send(message)

        try:
            await self._inner(scope, receive, tagged_send)
        finally:
            if detach is not None:
                context.detach(detach)  # type: ignore[arg-type]
            if state.pending or scrub:
                self._finish_safely(state, span, scrub=scrub)

    def _finish_safely(self, state: RequestState, span: Span, *, scrub: bool) -> None:
        """As the request leaves without a response start: its token attributes; and a
        span tokentrace did not open loses what it recorded of the token."""
        try:
            flush(state)
            if scrub:
                scrub_span(span, self._params, self._headers)
        except Exception as error:
            internal_error("ASGI attribute scrubbing", error)

    def _scrub_safely(self, span: Span) -> None:
        try:
            scrub_span(span, self._params, self._headers)
        except Exception as error:
            internal_error("ASGI attribute scrubbing", error)
