"""``/api/alerts``: the alert rules (without their secrets) and the latest deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Request

from tokentrace_backend import alerts
from tokentrace_backend.alerts import AlertRule, AlertsOverview

from .dependencies import Cursor
from .parameters import MAX_LIMIT

router = APIRouter(prefix="/alerts", tags=["alerts"])

DEFAULT_DELIVERIES = 50


@router.get("", response_model=AlertsOverview)
def alerts_overview(
    request: Request,
    cursor: Cursor,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="deliveries to list, newest first")
    ] = DEFAULT_DELIVERIES,
) -> AlertsOverview:
    """The configured rules (webhook origin only, never headers) and the ``limit`` latest
    deliveries, newest first."""
    rules: Sequence[AlertRule] = request.app.state.alert_rules
    return alerts.alerts_overview(cursor, rules, limit=limit)
