"""Helpers for asserting on tokentrace spans in your own test suite.

from tokentrace.testing import SpanRecorder

recorder = SpanRecorder.install()          # once per test session
client.get("/orders", headers={"Authorization": "Bearer t0ken"})
span = recorder.request_span(token="t0ken")
assert span.attributes["tokentrace.auth.outcome"] == "success"
recorder.assert_no_raw_token("t0ken")      # searches the serialized OTLP bytes
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tokentrace import attributes as attr
from tokentrace._fingerprint import fingerprint
from tokentrace._setup import install_processor

__all__ = ["SpanRecorder"]


class SpanRecorder:
    """Keeps every finished span of a tracer provider in memory."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        install_processor(provider)

    @classmethod
    def install(cls) -> SpanRecorder:
        """Record the global tracer provider's spans (installing an SDK provider if none).

        OpenTelemetry allows one global provider per process, so call this once per test
        session (a session-scoped fixture) and :meth:`clear` between tests.
        """
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            return cls(current)
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        return cls(provider)

    def clear(self) -> None:
        self.exporter.clear()

    def spans(self) -> tuple[ReadableSpan, ...]:
        self.provider.force_flush()
        return self.exporter.get_finished_spans()

    def server_spans(self) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.kind is SpanKind.SERVER]

    def token_spans(
        self, *, token: str | None = None, token_id: str | None = None
    ) -> list[ReadableSpan]:
        """Every span tagged with the token (given raw, or by its id)."""
        wanted = token_id or (fingerprint(token) if token is not None else None)
        return [
            span
            for span in self.spans()
            if span.attributes is not None and span.attributes.get(attr.TOKEN_ID) == wanted
        ]

    def request_span(
        self, *, token: str | None = None, token_id: str | None = None
    ) -> ReadableSpan:
        """The one SERVER span of the token's request; AssertionError if not exactly one."""
        found = [
            span
            for span in self.token_spans(token=token, token_id=token_id)
            if span.kind is SpanKind.SERVER
        ]
        assert len(found) == 1, f"expected one SERVER span for the token, found {len(found)}"
        return found[0]

    def otlp_bytes(self) -> bytes:
        """The recorded spans as the OTLP exporter would send them."""
        data: bytes = encode_spans(self.spans()).SerializeToString()
        return data

    def assert_no_raw_token(self, *secrets: str | bytes, extra: Sequence[bytes] = ()) -> None:
        """Fail if any secret appears in the serialized OTLP bytes (or in ``extra``)."""
        haystacks = [self.otlp_bytes(), *extra]
        for secret in secrets:
            needle = secret.encode() if isinstance(secret, str) else secret
            for number, haystack in enumerate(haystacks):
                where = "the exported OTLP bytes" if number == 0 else f"extra[{number - 1}]"
                assert needle not in haystack, (
                    f"a raw token ({needle[:4]!r}..., {len(needle)} bytes) was found in {where}"
                )
