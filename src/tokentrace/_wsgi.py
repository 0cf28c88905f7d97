"""``tokentrace.WSGIMiddleware``: tokens on the SERVER span of any WSGI app.

Built on contrib's WSGI ``OpenTelemetryMiddleware``. That middleware records
``http.target`` with the query string and, when the capture-headers environment variables
ask for it, raw header values; it takes its sanitizer from the environment only. So
tokentrace hides the raw values from the environ the OTel layer reads, and puts them back
before the app runs. The span ends after the body is drained (contrib does that).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from opentelemetry import context, trace
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
from opentelemetry.trace import Span

from tokentrace._failsafe import failsafe, internal_error
from tokentrace._middleware import TokenMiddleware
from tokentrace._redact import redact_query, redact_url, redaction_hint
from tokentrace._request import (
    RequestState,
    current_request,
    enter,
    flush,
    leave,
    write_outcome,
)
from tokentrace.attributes import REDACTED_HEADER

Environ = dict[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_URL_KEYS = ("RAW_URI", "REQUEST_URI")


def _environ_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


class WSGIMiddleware(TokenMiddleware[WSGIApp]):
    """Tag each request's SERVER span with the token's fingerprint and auth outcome.

    ``app.wsgi_app = tokentrace.WSGIMiddleware(app.wsgi_app)`` (Flask) or wrap Django's
    ``get_wsgi_application()``. Same options as :class:`tokentrace.ASGIMiddleware`;
    ``tracer_provider`` and other keywords go to contrib's WSGI middleware.
    """

    def _instrument(
        self,
        app: WSGIApp,
        tracer_provider: trace.TracerProvider | None,
        otel_options: dict[str, Any],
    ) -> None:
        self._params = self.settings.redact_query_params
        self._hint = redaction_hint(self._params)
        self._headers = self.settings.sensitive_headers
        self._header_keys = tuple(_environ_key(name) for name in sorted(self._headers))
        names = {source.name for source in self.settings.sources} | {"cookie"}
        self._environ_keys = {name: _environ_key(name) for name in names}
        self.wsgi = app
        self._otel = OpenTelemetryMiddleware(
            self._instrumented, tracer_provider=tracer_provider, **otel_options
        )

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        keys = self._environ_keys

        def header(name: str) -> str | None:
            return environ.get(keys.get(name) or _environ_key(name))

        state = self.begin(header, environ.get("QUERY_STRING", ""))
        try:
            existing = self.claim_server_span(state)
            owned = state.owns_server_span
            if owned:
                self._hide_raw_values(environ, state)
        except Exception as error:
            internal_error("WSGI request preparation", error)
            environ.update(state.saved)  # the app gets its environ as it came
            return self.wsgi(environ, start_response)
        reset = enter(state)
        try:
            if owned:
                return self._otel(environ, start_response)  # type: ignore[no-any-return]
            return self._run(state, existing, environ, start_response)
        finally:
            leave(reset)

    def _hide_raw_values(self, environ: Environ, state: RequestState) -> None:
        saved = state.saved
        query = environ.get("QUERY_STRING")
        if query and self._hint.search(query) is not None:
            redacted = redact_query(query, self._params)
            if redacted != query:
                saved["QUERY_STRING"] = query
                environ["QUERY_STRING"] = redacted
                for key in _URL_KEYS:
                    value = environ.get(key)
                    if value:
                        saved[key] = value
                        environ[key] = redact_url(value, self._params)
        for key in self._header_keys:
            if key in environ:
                saved[key] = environ[key]
                environ[key] = REDACTED_HEADER

    def _instrumented(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Called by the OTel middleware inside its SERVER span."""
        state = current_request()
        if state is None:
            return self.wsgi(environ, start_response)
        if state.saved:
            environ.update(state.saved)  # the app sees the real request
        # The span processor recorded the span as it started (else: the current one).
        span = state.span or trace.get_current_span()
        return self._run(state, span, environ, start_response)

    def _run(
        self,
        state: RequestState,
        span: Span,
        environ: Environ,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        # A span opened by an outer WSGI instrumentation needs no scrubbing here: WSGI
        # instrumentations capture headers only as the environment asks, and the span
        # processor scrubs URLs and such headers on every span as it ends.
        try:
            self.tag(state, span)
            detach = self.attach_context(state)  # last: nothing can fail after it
        except Exception as error:
            internal_error("WSGI span tagging", error)
            state.pending = False
            return self.wsgi(environ, start_response)

        def tagged_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Callable[[bytes], object]:
            try:
                write_outcome(state, int(status[:3]))
            except Exception as error:
                internal_error("WSGI auth outcome", error)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        try:
            body = self.wsgi(environ, tagged_start_response)
        finally:
            if detach is not None:
                context.detach(detach)  # type: ignore[arg-type]
            if state.pending:  # no response started (yet): the span must not end untagged
                self._flush_safely(state)
        if isinstance(body, list | tuple):
            return body  # already complete: nothing runs while it is sent
        return StreamingBody(body, state, self)

    @staticmethod
    def _flush_safely(state: RequestState) -> None:
        try:
            flush(state)
        except Exception as error:
            internal_error("WSGI span tagging", error)


class StreamingBody:
    """A streaming response body (a generator) runs app code while the server iterates it,
    after the middleware returned: re-enter the request (for ``record_auth`` and the span
    processor) and its baggage around each step and around ``close()``."""

    def __init__(
        self, body: Iterable[bytes], state: RequestState, middleware: WSGIMiddleware
    ) -> None:
        self._body = body
        self._state = state
        self._middleware = middleware

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._body)
        while True:
            with self._request_context():
                try:
                    chunk = next(chunks)
                except StopIteration:
                    return
            yield chunk

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            with self._request_context():
                close()

    @contextmanager
    def _request_context(self) -> Iterator[None]:
        reset = enter(self._state)
        detach = None
        with failsafe("WSGI streaming context"):
            detach = self._middleware.attach_context(self._state)
        try:
            yield
        finally:
            if detach is not None:
                context.detach(detach)  # type: ignore[arg-type]
            leave(reset)
