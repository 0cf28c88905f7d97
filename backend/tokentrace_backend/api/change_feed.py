"""The change feed behind ``GET /api/events``: what the dashboard's live view listens to.

A stage of the background refresh (``derived.background``) notes, after each round, how
far the derived tables reach and the latest change to a finding: one small query, no
matter how many browsers listen. Each listener compares versions every
``POLL_SECONDS`` and is told at most every ``MIN_GAP_SECONDS`` what changed (``requests``,
``findings``); it then fetches what it shows. One connection per browser and a fetch only
after a change: no polling storm, also while ingest runs at full rate.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import duckdb
import orjson

POLL_SECONDS: Final = 0.5
MIN_GAP_SECONDS: Final = 2.0
HEARTBEAT_SECONDS: Final = 15.0
# A stream ends after this long (the browser's EventSource reconnects at once), so that no
# connection outlives a deployment by long.
STREAM_SECONDS: Final = 300.0

_STATE_SQL: Final = """
SELECT
    (SELECT last_batch_id FROM derived_state WHERE name = 'token_tables'),
    (SELECT count(*) FROM findings),
    (SELECT coalesce(max(updated_at_ns), 0) FROM findings)
"""


@dataclass(frozen=True)
class FeedState:
    derived_batch: int = 0
    findings: tuple[int, int] = (0, 0)  # (count, latest update)


class ChangeFeed:
    """Versions of what the dashboard shows, noted by a stage, read by the listeners."""

    def __init__(self) -> None:
        self._state = FeedState()
        self._closed = threading.Event()

    @property
    def state(self) -> FeedState:
        return self._state

    def note(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """A stage after the refresh: read the versions (the derived position, findings)."""
        row = cursor.execute(_STATE_SQL).fetchone()
        if row is not None:
            batch, count, updated = row
            self._state = FeedState(int(batch or 0), (int(count), int(updated)))

    def close(self) -> None:
        """End every stream (the server is stopping: it waits for open requests)."""
        self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def stream(self, disconnected: Callable[[], Awaitable[bool]]) -> AsyncIterator[bytes]:
        """Server-sent events: ``changed`` with ``{"requests": bool, "findings": bool}``."""
        seen = self._state
        started = last_sent = last_beat = time.monotonic()
        yield b"retry: 3000\n\n"
        while not self.closed:
            await asyncio.sleep(POLL_SECONDS)
            if await disconnected():
                return
            now = time.monotonic()
            if now - started > STREAM_SECONDS:
                return
            current = self._state
            if current != seen and now - last_sent >= MIN_GAP_SECONDS:
                changed = {
                    "requests": current.derived_batch != seen.derived_batch,
                    "findings": current.findings != seen.findings,
                }
                seen, last_sent, last_beat = current, now, now
                yield b"event: changed\ndata: " + orjson.dumps(changed) + b"\n\n"
            elif now - last_beat >= HEARTBEAT_SECONDS:
                last_beat = now
                yield b": heartbeat\n\n"
