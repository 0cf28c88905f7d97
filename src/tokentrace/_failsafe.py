"""Instrumentation never breaks the host app: tokentrace's own errors are logged once
per kind and swallowed. Log lines name the error type only; a message could echo input."""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger("tokentrace")

_seen: set[tuple[str, str]] = set()
_lock = threading.Lock()


def log_internal_error(where: str, error: BaseException) -> None:
    """Log an internal failure once per (place, error type); later repeats are silent."""
    key = (where, type(error).__name__)
    with _lock:
        if key in _seen:
            return
        _seen.add(key)
    logger.warning(
        "tokentrace: internal error in %s (%s); the request goes on unaffected, "
        "without tokentrace's part (further errors of this kind are not logged)",
        where,
        type(error).__name__,
    )
