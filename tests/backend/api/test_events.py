"""``GET /api/events`` (api/change_feed.py): the dashboard's live updates. One stage notes
the versions after each refresh; each stream says what changed, at most every
MIN_GAP_SECONDS, and ends when the feed closes (the server stopping)."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from tests.loopback import serve_asgi
from tokentrace_backend.api import change_feed, create_api_app
from tokentrace_backend.api.change_feed import ChangeFeed
from tokentrace_backend.storage import Database


async def _never() -> bool:
    return False


def _add_finding(database: Database) -> None:
    with database.reader() as cursor:
        cursor.execute(
            "INSERT INTO findings (kind, token_id, subject, severity, summary, baseline,"
            " evidence, first_ns, last_ns, detected_at_ns, updated_at_ns)"
            " VALUES ('burst', ?, 's', 'high', 's', '{}', '{}', 0, 0, 1, 1)",
            ["ab" * 16],
        )


def test_a_stream_says_what_changed(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(change_feed, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(change_feed, "MIN_GAP_SECONDS", 0.0)
    feed = ChangeFeed()
    with database.reader() as cursor:
        feed.note(cursor)

    async def first_events() -> list[bytes]:
        stream = feed.stream(_never)
        received = [await anext(stream)]  # retry: the reconnection delay
        with database.reader() as cursor:
            feed.note(cursor)  # nothing changed: no event
            _add_finding(database)
            feed.note(cursor)
        received.append(await asyncio.wait_for(anext(stream), timeout=5))
        feed.close()
        received.extend([event async for event in stream])
        return received

    events = asyncio.run(first_events())
    assert events[0] == b"retry: 3000\n\n"
    assert events[1] == b'event: changed\ndata: {"requests":false,"findings":true}\n\n'
    assert events[2:] == []  # closed: the stream ended


def test_changes_are_sent_at_most_every_gap(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(change_feed, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(change_feed, "MIN_GAP_SECONDS", 0.3)
    feed = ChangeFeed()

    async def count_events(seconds: float) -> tuple[int, float]:
        stream = feed.stream(_never)
        await anext(stream)
        sent = 0

        async def change_often() -> None:
            for _ in range(int(seconds / 0.02)):
                with database.reader() as cursor:
                    _add_finding(database)
                    feed.note(cursor)
                await asyncio.sleep(0.02)
            feed.close()

        started = time.monotonic()
        task = asyncio.create_task(change_often())
        async for event in stream:
            sent += event.startswith(b"event: changed")
        await task
        return sent, time.monotonic() - started

    sent, elapsed = asyncio.run(count_events(1.2))
    # ~60 changes, told at most every 0.3 s
    assert 2 <= sent <= elapsed / 0.3 + 1, (sent, elapsed)


def test_the_events_route_streams_and_ends_when_the_feed_closes(database: Database) -> None:
    app = create_api_app(database, api_key="k")
    with serve_asgi(app, lifespan="off") as url:
        assert httpx.get(url + "/api/events").status_code == 401
        headers = {"Authorization": "Bearer k"}
        closer = threading.Timer(1.0, app.state.change_feed.close)
        closer.start()
        started = time.monotonic()
        with httpx.stream("GET", url + "/api/events", headers=headers, timeout=10) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            body = b"".join(response.iter_bytes())
        assert body.startswith(b"retry: 3000")
        assert time.monotonic() - started < 5  # ended by close(), not by a timeout
