"""``/api/traces/{trace_id}``: one trace's spans, each with the token it belongs to."""

from __future__ import annotations

from fastapi import APIRouter

from tokentrace_backend import queries
from tokentrace_backend.queries.results import TraceDetail

from .dependencies import Cursor, Settings
from .errors import TraceNotFound
from .parameters import TraceId, normalise_hex

router = APIRouter(prefix="/traces", tags=["traces"])


@router.get(
    "/{trace_id}",
    response_model=TraceDetail,
    responses={404: {"description": "no span of this trace is stored"}},
)
def trace_detail(cursor: Cursor, settings: Settings, trace_id: TraceId) -> TraceDetail:
    """All spans of a trace in start order, with a Jaeger link when configured."""
    trace_id = normalise_hex(trace_id)
    detail = queries.trace_detail(cursor, trace_id, jaeger_url=settings.jaeger_url)
    if detail is None:
        raise TraceNotFound(trace_id)
    return detail
