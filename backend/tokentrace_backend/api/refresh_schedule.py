"""When the background refresh of the derived tables may run, given the writer's activity.

The refresh (linking new spans within their traces, then appending to the per-token tables,
and now and then compacting them) costs CPU in proportion to the spans it derives *and* to
the spans of their traces' time window it has to scan. During heavy ingest it competes with
decoding and the writer for the same cores, so it is held back:

- when the writer has been idle for ``idle_after`` seconds, the refresh runs (at most once
  per ``interval``), catching up with everything written;
- while the writer is busy, each refresh derives at most ``busy_slice_spans`` spans, and
  it runs at most ``busy_duty`` of the wall-clock time: after a refresh that took ``t``
  seconds, the next one waits ``t * (1 - busy_duty) / busy_duty`` (and at least
  ``interval``). Capping the work per refresh is what bounds the duty cycle: a refresh of
  the whole backlog would grow with every wait. Fewer, larger refreshes also scan each
  trace's time window fewer times per span.

Under sustained heavy ingest the derived tables therefore lag behind, and catch up when the
writer pauses. Answers never lag: every API request catches up (``DerivedTables.catch_up``)
before it reads, so it includes every acknowledged span (and pays for the backlog).
"""

from __future__ import annotations

from typing import Protocol

DEFAULT_INTERVAL_SECONDS = 1.0
DEFAULT_IDLE_AFTER_SECONDS = 0.3
DEFAULT_BUSY_DUTY = 0.2
DEFAULT_BUSY_SLICE_SPANS = 100_000


class IngestActivity(Protocol):
    """What the refresh needs to know of the writer (``SpanWriter`` provides it)."""

    def idle_seconds(self) -> float:
        """Seconds since the writer last had work; 0.0 while spans are queued or written."""
        ...


class RefreshSchedule:
    """Decides whether the background refresh is due; clock values are ``time.monotonic()``."""

    def __init__(
        self,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        idle_after: float = DEFAULT_IDLE_AFTER_SECONDS,
        busy_duty: float = DEFAULT_BUSY_DUTY,
        busy_slice_spans: int = DEFAULT_BUSY_SLICE_SPANS,
    ) -> None:
        if not 0.0 < busy_duty <= 1.0:
            raise ValueError(f"busy_duty must be in (0, 1], not {busy_duty}")
        self.interval = interval
        self.idle_after = idle_after
        self.busy_duty = busy_duty
        self.busy_slice_spans = busy_slice_spans
        self._last_end = float("-inf")
        self._next_busy = float("-inf")

    def is_idle(self, idle_seconds: float | None) -> bool:
        """Whether the writer counts as idle; ``None`` means no writer to defer to."""
        return idle_seconds is None or idle_seconds >= self.idle_after

    def due(self, now: float, idle_seconds: float | None) -> bool:
        """Whether to refresh now (bounded by ``busy_slice_spans`` unless idle)."""
        if now < self._last_end + self.interval:
            return False
        return self.is_idle(idle_seconds) or now >= self._next_busy

    def record(self, started: float, ended: float) -> None:
        """Note a refresh that ran from ``started`` to ``ended``."""
        spent = max(ended - started, 0.0)
        self._last_end = ended
        self._next_busy = ended + max(
            self.interval, spent * (1.0 - self.busy_duty) / self.busy_duty
        )
