"""The process-wide lists of token-bearing query parameters and headers.

Every middleware adds the sources it was configured with, so the span processor (one per
tracer provider) scrubs what any of them would treat as a token.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from tokentrace._settings import ALWAYS_REDACTED_QUERY_PARAMS, ALWAYS_SENSITIVE_HEADERS

_lock = threading.Lock()
_params: frozenset[str] = ALWAYS_REDACTED_QUERY_PARAMS
_headers: frozenset[str] = ALWAYS_SENSITIVE_HEADERS


def register(params: Iterable[str], headers: Iterable[str]) -> None:
    global _params, _headers  # noqa: PLW0603 - copy-on-write sets read without a lock
    with _lock:
        _params = _params | frozenset(params)
        _headers = _headers | frozenset(name.lower() for name in headers)


def sensitive_query_params() -> frozenset[str]:
    return _params


def sensitive_headers() -> frozenset[str]:
    return _headers
