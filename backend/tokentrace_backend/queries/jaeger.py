"""Links from trace ids to the Jaeger UI (``TOKENTRACE_JAEGER_URL``)."""

from __future__ import annotations


def jaeger_trace_url(jaeger_url: str | None, trace_id: str) -> str | None:
    """``{jaeger_url}/trace/{trace_id}``, or None when no Jaeger UI is configured."""
    if not jaeger_url:
        return None
    return f"{jaeger_url.rstrip('/')}/trace/{trace_id}"
