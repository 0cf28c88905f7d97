"""OpenTelemetry set-up: ``configure()`` for apps with none, and the processor install."""

from __future__ import annotations

import threading
from typing import Final

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from tokentrace._processor import TokenSpanProcessor

_INSTALLED_FLAG: Final = "_tokentrace_processor_installed"
_lock = threading.Lock()


def install_processor(provider: trace.TracerProvider | None = None) -> bool:
    """Add tokentrace's span processor to ``provider`` (default: the global one), once.

    Returns False when the provider is not an SDK provider (OpenTelemetry not set up yet,
    or a no-op provider): tracing is then off and there is nothing to tag.
    """
    target = provider if provider is not None else trace.get_tracer_provider()
    if not isinstance(target, TracerProvider):
        return False
    with _lock:
        if not getattr(target, _INSTALLED_FLAG, False):
            target.add_span_processor(TokenSpanProcessor())
            setattr(target, _INSTALLED_FLAG, True)
    return True


def _traces_url(endpoint: str) -> str:
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


def configure(
    service_name: str | None = None,
    endpoint: str | None = None,
    *,
    exporter: SpanExporter | None = None,
    span_processor: SpanProcessor | None = None,
) -> TracerProvider:
    """Set up OpenTelemetry tracing for an app that has none, with tokentrace's processor.

    - ``service_name``: the ``service.name`` resource attribute (``OTEL_SERVICE_NAME`` and
      ``OTEL_RESOURCE_ATTRIBUTES`` are honoured; the argument wins).
    - ``endpoint``: the OTLP/HTTP base URL (``http://collector:4318``); by default the
      exporter reads ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``, falling back to localhost:4318.
    - ``exporter`` / ``span_processor``: replace the OTLP exporter or its batch processor.

    Idempotent: when an SDK tracer provider is already installed (by an earlier call or by
    the app's own set-up), tokentrace's processor is added to it and it is returned as is.
    """
    with _lock:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            provider = current
        else:
            resource = Resource.create({SERVICE_NAME: service_name} if service_name else {})
            provider = TracerProvider(resource=resource)
            if span_processor is None:
                if exporter is None:
                    exporter = (
                        OTLPSpanExporter(endpoint=_traces_url(endpoint))
                        if endpoint
                        else OTLPSpanExporter()
                    )
                span_processor = BatchSpanProcessor(exporter)
            provider.add_span_processor(span_processor)
            trace.set_tracer_provider(provider)
    install_processor(provider)
    return provider
