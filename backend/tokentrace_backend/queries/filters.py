"""The filters every correlation query takes: a time window, a service and an outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[since_ns, until_ns)`` in unix nanoseconds."""

    since_ns: int
    until_ns: int


@dataclass(frozen=True)
class QueryFilters:
    """Filters common to the queries; ``None`` means "do not filter on this"."""

    window: Window
    service: str | None = None
    outcome: str | None = None

    def parameters(self) -> dict[str, Any]:
        """The filters as named SQL parameters (``$since_ns``, ``$until_ns``, ...)."""
        return {
            "since_ns": self.window.since_ns,
            "until_ns": self.window.until_ns,
            "service": self.service,
            "outcome": self.outcome,
        }
