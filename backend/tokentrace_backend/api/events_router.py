"""``/api/events``: server-sent events telling the dashboard what changed (``change_feed``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from .change_feed import ChangeFeed

router = APIRouter(prefix="/events", tags=["events"])


@router.get(
    "",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "an event stream"}},
)
def events(request: Request) -> StreamingResponse:
    """``event: changed`` with ``{"requests": bool, "findings": bool}`` at most every 2 s
    while new spans are derived or findings change; a comment every 15 s keeps it open."""
    feed: ChangeFeed = request.app.state.change_feed
    return StreamingResponse(
        feed.stream(request.is_disconnected),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
