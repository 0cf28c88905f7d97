"""``/metrics``: Prometheus' text format (alerts/metrics.py reads it at scrape time).

It sits beside ``/api`` rather than under it, where Prometheus looks by default, and needs
the API key like ``/api`` when one is set (Prometheus sends it with ``authorization:``
in its scrape config): the counts of findings by kind tell whoever reads them what the
detectors have noticed.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from tokentrace_backend.alerts import METRICS_CONTENT_TYPE, BackendMetrics

from .dependencies import require_api_key

router = APIRouter(tags=["metrics"], dependencies=[Depends(require_api_key)])


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Every metric, read now, in Prometheus' text exposition format."""
    collector: BackendMetrics = request.app.state.metrics
    return Response(collector.render(), media_type=METRICS_CONTENT_TYPE)
