"""The few places where tokentrace reaches into the OpenTelemetry SDK's span internals.

The public span API cannot change an ended span, and the last chance to keep a token out
of an export is when the span ends (``SpanProcessor._on_ending``, after the SDK froze its
attributes, before any exporter sees it). Everything that depends on the SDK's private
structure is here, behind checks: if a future SDK stores spans differently these return
None / False and tokentrace falls back to the public API;
``tests/library/test_span_internals.py`` fails loudly when that happens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Status


def attribute_dict(span: object) -> dict[str, Any] | None:
    """The span's attributes as the SDK's own plain dict (writable even once frozen)."""
    bounded = getattr(span, "_attributes", None)
    plain = getattr(bounded, "_dict", None)
    return plain if isinstance(plain, dict) else None


def ending_view(span: object) -> tuple[dict[str, Any] | None, bool]:
    """``(attribute_dict(span), whether it has events or a status description)`` in one
    call, as each span ends: the text that could quote a token. The second is True when it
    cannot be told (the rewrite then runs); it reads the SDK's deque of events and the
    status's description field, no properties."""
    bounded = getattr(span, "_attributes", None)
    plain = getattr(bounded, "_dict", None)
    events = getattr(getattr(span, "_events", None), "_dq", None)
    status = getattr(span, "_status", None)
    if not isinstance(events, deque) or not isinstance(status, Status):
        text = True
    else:
        text = bool(events) or bool(getattr(status, "_description", True))
    return (plain if isinstance(plain, dict) else None), text


def rewrite_event_strings(span: ReadableSpan, clean: Callable[[str], str]) -> None:
    """Apply ``clean`` to every string attribute of the span's events (exception messages
    and stack traces)."""
    for event in getattr(span, "_events", None) or ():
        plain = attribute_dict(event)
        if plain is None:
            continue
        for key, value in plain.items():
            if isinstance(value, str):
                cleaned = clean(value)
                if cleaned != value:
                    plain[key] = cleaned


def rewrite_status_description(span: ReadableSpan, clean: Callable[[str], str]) -> None:
    status = getattr(span, "_status", None)
    if isinstance(status, Status) and status.description:
        cleaned = clean(status.description)
        if cleaned != status.description:
            span._status = Status(status.status_code, cleaned)
