"""Instrumentation never breaks the host app: tokentrace's own errors are logged once per
kind and swallowed, and the request goes on without tokentrace's part.

Every place that runs tokentrace code on the app's behalf wraps it in :class:`failsafe`
(as contrib's ``failsafe()`` and logfire's ``handle_internal_errors`` do). Log lines name
the error type only: a message could echo a header or a token. Under tokentrace's own test
suite (``TOKENTRACE_RAISE_INTERNAL_ERRORS=true``) the error propagates instead, so that a
swallowed bug fails a test; the tests that inject failures on purpose turn it off.
"""

from __future__ import annotations

import logging
import os
import threading
from types import TracebackType

from tokentrace._settings import ENV_RAISE_INTERNAL_ERRORS

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


def internal_error(where: str, error: Exception) -> None:
    """The ``except Exception as error:`` branch of a block that must never break the app:
    what :class:`failsafe` does on exit, for the request path, where a ``try`` costs
    nothing until something raises and a context manager costs three calls per block."""
    if _raise_internal_errors():
        raise error
    log_internal_error(where, error)


class failsafe:  # lowercase: it reads as a statement, ``with failsafe("where") as guard``
    """Swallow (and log once) an ``Exception`` raised inside the block.

    ``guard.failed`` tells the code after the block to take its fallback path. BaseExceptions
    (cancellation, KeyboardInterrupt) always propagate.
    """

    __slots__ = ("failed", "where")

    def __init__(self, where: str) -> None:
        self.where = where
        self.failed = False

    def __enter__(self) -> failsafe:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if error is None or not isinstance(error, Exception):
            return False
        if _raise_internal_errors():
            return False
        log_internal_error(self.where, error)
        self.failed = True
        return True


def _raise_internal_errors() -> bool:
    # Read at each failure (rare), and leniently: a bad value must not raise here.
    value = os.environ.get(ENV_RAISE_INTERNAL_ERRORS, "")
    return value.strip().lower() in {"1", "true", "yes", "on"}
