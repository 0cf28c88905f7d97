"""Fixtures for the library tests: one recording tracer provider for the session, and the
HTTP semantic-convention modes of the official instrumentation."""

from __future__ import annotations

import os

# One known key for the whole session, set before tokentrace builds its fingerprinter.
os.environ["TOKENTRACE_HASH_KEY"] = "test-key-0123456789abcdef0123456789abcdef"
os.environ["TOKENTRACE_HASH_KEY_ID"] = "test-2026"

from collections.abc import Iterator

import pytest
from opentelemetry.instrumentation._semconv import _OpenTelemetrySemanticConventionStability

from tests.library.server_spans import OPEN_SERVER_SPANS, track_server_spans
from tokentrace.testing import SpanRecorder

_RECORDER = SpanRecorder.install()
track_server_spans(_RECORDER.provider)  # after the recorder: wait_for_server_spans' signal


@pytest.fixture
def recorder() -> Iterator[SpanRecorder]:
    _RECORDER.clear()
    OPEN_SERVER_SPANS.clear()  # a span a failed test left open must not stall the next
    yield _RECORDER
    _RECORDER.clear()


@pytest.fixture(params=["default", "http/dup"])
def semconv(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test under the old HTTP semantic conventions and under old+stable (dup).

    The official instrumentation reads OTEL_SEMCONV_STABILITY_OPT_IN once per process;
    its private 'initialized' flag is reset so that each middleware built in the test
    reads the mode again.
    """
    mode: str = request.param
    if mode == "default":
        monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
    else:
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", mode)
    stability = _OpenTelemetrySemanticConventionStability
    monkeypatch.setattr(stability, "_initialized", False)
    monkeypatch.setattr(stability, "_OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING", {})
    return mode
