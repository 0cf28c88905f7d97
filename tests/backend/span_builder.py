"""Builds spans of several services with the real OpenTelemetry SDK and stores them through
the backend's real ingest path: OTLP encoding (the exporter's encoder), the backend's
``decode_spans`` and its ``SpanWriter`` (the HTTP hop is the ingest tests' business)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from tokentrace import attributes as tt
from tokentrace_backend.ingest import decode_spans
from tokentrace_backend.storage.writer import SpanWriter

NS_PER_MS = 1_000_000


class SpanBuilder:
    """One SDK tracer provider per service, all exporting into one in-memory exporter."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self._providers: dict[str, TracerProvider] = {}

    def span(
        self,
        service: str,
        name: str,
        *,
        kind: SpanKind,
        start_ns: int,
        duration_ms: float = 10.0,
        parent: Span | None = None,
        attributes: Mapping[str, Any] | None = None,
        error: BaseException | None = None,
        failed: bool = False,
    ) -> Span:
        """Start and end one span; ``error`` is recorded as an exception event."""
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self._tracer(service).start_span(
            name, context=context, kind=kind, start_time=start_ns, attributes=attributes
        )
        if error is not None:
            span.record_exception(error, timestamp=start_ns + 1)
        if error is not None or failed:
            span.set_status(Status(StatusCode.ERROR, str(error) if error else None))
        span.end(end_time=start_ns + int(duration_ms * NS_PER_MS))
        return span

    def request(
        self,
        service: str,
        route: str,
        *,
        token_id: str,
        outcome: str,
        start_ns: int,
        status: int = 200,
        client: str = "10.0.0.1",
        user_agent: str = "python-httpx/0.28",
        owner: str | None = None,
        parent: Span | None = None,
        duration_ms: float = 20.0,
    ) -> Span:
        """A SERVER span as the tokentrace middleware tags it."""
        attributes: dict[str, Any] = {
            "http.request.method": "GET",
            "http.route": route,
            "url.path": route,
            "http.response.status_code": status,
            "client.address": client,
            "user_agent.original": user_agent,
            tt.TOKEN_ID: token_id,
            tt.TOKEN_KEY_ID: "k1",
            tt.AUTH_OUTCOME: outcome,
            tt.AUTH_OUTCOME_SOURCE: "recorded",
        }
        if owner is not None:
            attributes[tt.TOKEN_OWNER] = owner
        return self.span(
            service,
            f"GET {route}",
            kind=SpanKind.SERVER,
            start_ns=start_ns,
            parent=parent,
            attributes=attributes,
            duration_ms=duration_ms,
        )

    def flush(self, writer: SpanWriter) -> int:
        """Store every span built since the last flush as one export; returns its batch id."""
        spans: tuple[ReadableSpan, ...] = self.exporter.get_finished_spans()
        self.exporter.clear()
        decoded = decode_spans(encode_spans(spans).SerializeToString())
        assert decoded.rejected_spans == 0, decoded.error_message
        return writer.submit(decoded).result(timeout=30)

    def shutdown(self) -> None:
        for provider in self._providers.values():
            provider.shutdown()

    def _tracer(self, service: str) -> trace.Tracer:
        provider = self._providers.get(service)
        if provider is None:
            provider = TracerProvider(resource=Resource.create({"service.name": service}))
            provider.add_span_processor(SimpleSpanProcessor(self.exporter))
            self._providers[service] = provider
        return provider.get_tracer("tokentrace.tests")


def trace_id_of(span: Span) -> str:
    return f"{span.get_span_context().trace_id:032x}"
