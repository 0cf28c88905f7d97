"""Posting to a webhook: one attempt under a hard deadline, what its answer means, and the
back-off between attempts.

An attempt succeeds on any 2xx. It is retried after a timeout, a connection error, a 5xx,
408 or 429; any other answer (400, 403, 404, 410: a wrong or revoked webhook) fails the
delivery at once, since sending the same body again cannot help. Errors never quote the
URL: a chat webhook's path is its secret.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from .rules import AlertRule

_RETRIED_STATUSES = frozenset({408, 429})
_ERROR_CHARS = 300


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard a delivery tries: ``attempts`` in all, each within ``timeout_seconds``,
    retry *n* after ``backoff_seconds * 2**(n-1)`` (at most ``max_backoff_seconds``)."""

    attempts: int = 5
    timeout_seconds: float = 10.0
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 300.0

    def backoff(self, attempts_made: int) -> float:
        """Seconds to wait before the next attempt, after ``attempts_made`` failed ones."""
        exponent = max(attempts_made - 1, 0)
        if self.backoff_seconds <= 0:
            return 0.0
        if exponent >= 64:  # 2**64 s is past any cap
            return self.max_backoff_seconds
        return float(min(self.backoff_seconds * 2**exponent, self.max_backoff_seconds))


@dataclass(frozen=True)
class AttemptResult:
    """What one POST came to."""

    delivered: bool
    retryable: bool
    http_status: int | None = None
    error: str | None = None


async def post_once(
    client: httpx.AsyncClient, rule: AlertRule, body: dict[str, Any], timeout_seconds: float
) -> AttemptResult:
    """POST ``body`` to the rule's webhook; the whole attempt (connect, send, answer) must
    end within ``timeout_seconds``, however slowly the other side trickles bytes."""
    try:
        async with asyncio.timeout(timeout_seconds):
            response = await client.post(
                rule.webhook_url,
                json=body,
                headers=rule.headers,
                timeout=timeout_seconds,
            )
    except (TimeoutError, httpx.TimeoutException):
        return AttemptResult(False, True, error=f"timed out after {timeout_seconds:g} s")
    except httpx.HTTPError as error:
        return AttemptResult(False, True, error=_describe_error(error, rule))
    status = response.status_code
    if 200 <= status < 300:
        return AttemptResult(True, False, http_status=status)
    retryable = status >= 500 or status in _RETRIED_STATUSES
    detail = response.text.strip().replace("\n", " ")[:_ERROR_CHARS]
    reason = f"HTTP {status} {response.reason_phrase}".rstrip()
    return AttemptResult(
        False, retryable, http_status=status, error=f"{reason}: {detail}" if detail else reason
    )


def _describe_error(error: httpx.HTTPError, rule: AlertRule) -> str:
    """``ConnectError: [Errno 111] Connection refused``, with the URL (should the message
    carry it) replaced by the shown form."""
    text = str(error) or "no detail"
    text = text.replace(rule.webhook_url, rule.shown_webhook)
    return f"{type(error).__name__}: {text}"[:_ERROR_CHARS]
