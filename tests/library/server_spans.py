"""Waiting for the SERVER spans of requests made to a real server."""

from __future__ import annotations

import threading
import time
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind

from tokentrace.testing import SpanRecorder


class OpenServerSpans(SpanProcessor):
    """Counts the SERVER spans that have started and not ended yet.

    Added to the provider after the recorder's exporter, so a span leaves the count only
    once the recorder holds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[int] = set()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if span.kind is SpanKind.SERVER:
            with self._lock:
                self._open.add(span.context.span_id)

    def on_end(self, span: ReadableSpan) -> None:
        if span.kind is SpanKind.SERVER and span.context is not None:
            with self._lock:
                self._open.discard(span.context.span_id)

    def count(self) -> int:
        with self._lock:
            return len(self._open)

    def clear(self) -> None:
        with self._lock:
            self._open.clear()


OPEN_SERVER_SPANS = OpenServerSpans()


def track_server_spans(provider: TracerProvider) -> None:
    """Count the open SERVER spans of ``provider`` (once per session, after the recorder)."""
    provider.add_span_processor(OPEN_SERVER_SPANS)


def wait_for_server_spans(recorder: SpanRecorder, count: int, timeout: float = 10.0) -> list[Any]:
    """The SERVER spans of the requests made, once they are complete.

    Server spans end just after the last byte is sent, so poll until ``count`` have ended
    and no SERVER span is still open: every SERVER span the requests started (a doubled
    one too, whether it ends before or after the expected one) has then ended and is in
    the recorder, and the count returned is final (no wait to prove that nothing else
    shows up). The client has its response, so the requests' spans have all started.
    """
    deadline = time.monotonic() + timeout
    while True:
        servers = recorder.server_spans()
        if (len(servers) >= count and OPEN_SERVER_SPANS.count() == 0) or (
            time.monotonic() > deadline
        ):
            return servers
        time.sleep(0.01)
