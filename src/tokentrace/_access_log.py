"""Keep tokens out of web servers' access logs.

uvicorn, werkzeug and gunicorn log each request line with its query string, so
``GET /orders?api_key=<raw>`` would land in the logs even though no span carries it. The
filter rewrites such records: token-bearing query parameters become ``REDACTED``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable
from typing import Final

from tokentrace._failsafe import failsafe
from tokentrace._redact import query_param_pattern, sensitive_query_params
from tokentrace.attributes import REDACTED

ACCESS_LOGGERS: Final = ("uvicorn.access", "werkzeug", "gunicorn.access", "hypercorn.access")


class AccessLogRedactor(logging.Filter):
    """A logging filter that redacts token-bearing query parameters in any record."""

    def __init__(self, params: Collection[str] | None = None) -> None:
        super().__init__()
        self._params = params
        self._compiled: tuple[Collection[str], re.Pattern[str]] | None = None

    def _pattern(self) -> re.Pattern[str]:
        names = self._params if self._params is not None else sensitive_query_params()
        if self._compiled is not None and self._compiled[0] is names:
            return self._compiled[1]
        pattern = query_param_pattern(names)
        self._compiled = (names, pattern)
        return pattern

    def _redact(self, value: object) -> object:
        if isinstance(value, str) and "=" in value:
            return self._pattern().sub(rf"\g<1>{REDACTED}", value)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in the record's arguments (formatters such as uvicorn's unpack them) and
        in its message template; the record is always kept."""
        with failsafe("access log redaction"):  # a log line must never be lost to tokentrace
            if isinstance(record.args, tuple):
                record.args = tuple(self._redact(arg) for arg in record.args)
            elif isinstance(record.args, dict):
                record.args = {key: self._redact(arg) for key, arg in record.args.items()}
            record.msg = self._redact(record.msg)
        return True


def redact_access_logs(loggers: Iterable[str] = ACCESS_LOGGERS) -> AccessLogRedactor:
    """Add the redacting filter to the access loggers of uvicorn, werkzeug, gunicorn and
    hypercorn (or the ``loggers`` given). Idempotent. Returns the filter."""
    redactor = AccessLogRedactor()
    for name in loggers:
        target = logging.getLogger(name)
        if not any(isinstance(existing, AccessLogRedactor) for existing in target.filters):
            target.addFilter(redactor)
    return redactor
