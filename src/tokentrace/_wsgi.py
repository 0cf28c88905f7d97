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

from tokentrace._failsafe import log_internal_error
from tokentrace._fingerprint import Fingerprinter
from tokentrace._redact import REDACTED_HEADER, redact_query, redact_url
from tokentrace._request import RequestState, current_request, enter, leave, write_outcome
from tokentrace._settings import OwnerResolver
from tokentrace._tagging import RequestTagger

Environ = dict[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_URL_KEYS = ("RAW_URI", "REQUEST_URI")


def _environ_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


class WSGIMiddleware:
    """Tag each request's SERVER span with the token's fingerprint and auth outcome.

    ``app.wsgi_app = tokentrace.WSGIMiddleware(app.wsgi_app)`` (Flask) or wrap Django's
    ``get_wsgi_application()``. Same options as :class:`tokentrace.ASGIMiddleware`;
    ``tracer_provider`` and other keywords go to contrib's WSGI middleware.
    """

    def __init__(
        self,
        app: WSGIApp,
        /,
        *,
        sources: str | list[str] | tuple[str, ...] | None = None,
        propagate: bool | None = None,
        accept_baggage: bool = True,
        subject_plain: bool | None = None,
        owner_resolver: OwnerResolver | None = None,
        fingerprinter: Fingerprinter | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        **otel_options: Any,
    ) -> None:
        self._tagger = RequestTagger(
            sources=sources,
            propagate=propagate,
            accept_baggage=accept_baggage,
            subject_plain=subject_plain,
            owner_resolver=owner_resolver,
            fingerprinter=fingerprinter,
            tracer_provider=tracer_provider,
        )
        self._params = self._tagger.settings.redact_query_params
        self._headers = self._tagger.settings.sensitive_headers
        self._header_keys = tuple(_environ_key(name) for name in sorted(self._headers))
        self.wsgi = app
        self._otel = OpenTelemetryMiddleware(
            self._instrumented, tracer_provider=tracer_provider, **otel_options
        )

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        state = self._tagger.begin(
            lambda name: environ.get(_environ_key(name)), environ.get("QUERY_STRING", "")
        )
        try:
            existing = self._tagger.claim_server_span(state)
            owned = state.owns_server_span
            if owned:
                self._hide_raw_values(environ, state)
        except Exception as error:
            log_internal_error("WSGI request preparation", error)
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
        if query:
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
            value = environ.get(key)
            if value is not None:
                saved[key] = value
                environ[key] = REDACTED_HEADER

    def _instrumented(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Called by the OTel middleware inside its SERVER span."""
        state = current_request()
        if state is None:
            return self.wsgi(environ, start_response)
        environ.update(state.saved)  # the app sees the real request
        return self._run(state, trace.get_current_span(), environ, start_response)

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
            tagged_start_response = self._tagged_start_response(state, start_response)
            self._tagger.tag(state, span)
            detach = self._tagger.attach_context(state)  # last: nothing can fail after it
        except Exception as error:
            log_internal_error("WSGI span tagging", error)
            return self.wsgi(environ, start_response)
        try:
            body = self.wsgi(environ, tagged_start_response)
        finally:
            if detach is not None:
                context.detach(detach)  # type: ignore[arg-type]
        if isinstance(body, list | tuple):
            return body  # already complete: nothing runs while it is sent
        return StreamingBody(body, state, self._tagger)

    @staticmethod
    def _tagged_start_response(state: RequestState, start_response: StartResponse) -> StartResponse:
        def tagged_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Callable[[bytes], object]:
            try:
                write_outcome(state, int(status.split(" ", 1)[0]))
            except Exception as error:
                log_internal_error("WSGI auth outcome", error)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        return tagged_start_response


class StreamingBody:
    """A streaming response body (a generator) runs app code while the server iterates it,
    after the middleware returned: re-enter the request (for ``record_auth`` and the span
    processor) and its baggage around each step and around ``close()``."""

    def __init__(self, body: Iterable[bytes], state: RequestState, tagger: RequestTagger) -> None:
        self._body = body
        self._state = state
        self._tagger = tagger

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
        try:
            detach = self._tagger.attach_context(self._state)
        except Exception as error:
            log_internal_error("WSGI streaming context", error)
        try:
            yield
        finally:
            if detach is not None:
                context.detach(detach)  # type: ignore[arg-type]
            leave(reset)
