"""The process-wide lists of token-bearing query parameters and headers.

Every middleware adds the sources it was configured with, so the span processor (one per
tracer provider) scrubs what any of them would treat as a token.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Final

from tokentrace._settings import ALWAYS_REDACTED_QUERY_PARAMS, ALWAYS_SENSITIVE_HEADERS

_lock = threading.Lock()
_params: frozenset[str] = ALWAYS_REDACTED_QUERY_PARAMS
_headers: frozenset[str] = ALWAYS_SENSITIVE_HEADERS


_HEADER_CAPTURE_VARIABLES: Final = tuple(
    f"OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_{side}_{direction}"
    for side in ("SERVER", "CLIENT")
    for direction in ("REQUEST", "RESPONSE")
)
_headers_captured = False


def register(params: Iterable[str], headers: Iterable[str]) -> None:
    """Add a middleware's sources; re-read whether any instrumentation captures headers
    (the OTel instrumentations take that from these environment variables)."""
    global _params, _headers, _headers_captured  # noqa: PLW0603 - copy-on-write, lock-free reads
    with _lock:
        _params = _params | frozenset(params)
        _headers = _headers | frozenset(name.lower() for name in headers)
        _headers_captured = headers_captured_by_environment()


def headers_captured_by_environment() -> bool:
    return any(os.environ.get(name) for name in _HEADER_CAPTURE_VARIABLES)


def headers_may_be_captured() -> bool:
    """Whether captured-header span attributes can exist (so must be scrubbed)."""
    return _headers_captured


_headers_captured = headers_captured_by_environment()


def sensitive_query_params() -> frozenset[str]:
    return _params


def sensitive_headers() -> frozenset[str]:
    return _headers
