"""What the span decoder reports, before it becomes an HTTP answer."""

from __future__ import annotations


class MalformedSpans(ValueError):
    """The request as a whole cannot be decoded (becomes 400)."""


class InvalidSpan(ValueError):
    """One span cannot be stored; the rest of the request can (becomes partial_success)."""
