"""The two span decoders, for tests that hold every decoding rule against both."""

from __future__ import annotations

import os

import pytest

from tokentrace_backend.ingest.decoding import SpansDecoder
from tokentrace_backend.ingest.native_decoder import decode_spans_native, native_decoder_problem
from tokentrace_backend.ingest.python_decoder import decode_spans

SPANS_DECODERS: dict[str, SpansDecoder] = {"python": decode_spans, "native": decode_spans_native}


def require_native_decoder() -> None:
    """Skip without the compiled decoder, except in CI, where it must have been built."""
    problem = native_decoder_problem()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test the native decoder (scripts/test builds it): {problem}")
        pytest.skip(f"the native decoder (native/): {problem}")
