"""What the receiver counts of the requests it did not take in, for ``/metrics``
(``tokentrace_ingest_requests_dropped_total{reason}``, alerts/metrics.py).

The counters live in the process and start at zero; the receiver increments them from the
event loop only, so they need no lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum


class DropReason(Enum):
    """Why a request was dropped before its spans reached the writer."""

    BODY_TIMEOUT = "body_timeout"
    """Its body did not arrive within TOKENTRACE_BODY_TIMEOUT_MS (answered 408)."""
    CLIENT_DISCONNECTED = "client_disconnected"
    """The client went away before the whole body arrived (nobody to answer)."""
    CLIENT_LIMIT = "client_limit"
    """Its client already had TOKENTRACE_MAX_REQUESTS_PER_CLIENT requests open (503)."""
    BUFFER_FULL = "buffer_full"
    """Its body would have taken the bytes held past TOKENTRACE_MAX_BUFFERED_BYTES (503)."""


class IngestCounters:
    """Requests dropped, by :class:`DropReason`."""

    def __init__(self) -> None:
        self._dropped = dict.fromkeys(DropReason, 0)

    def dropped(self, reason: DropReason) -> None:
        self._dropped[reason] += 1

    @property
    def requests_dropped(self) -> Mapping[str, int]:
        """Requests dropped since the start, by reason (every reason, zeros included)."""
        return {reason.value: count for reason, count in self._dropped.items()}
