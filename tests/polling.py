"""Waiting for something that happens asynchronously (spans travel through exporters,
collectors and background refreshes): poll until it holds, fail with what was seen last."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None], what: str, timeout: float = 60.0, interval: float = 0.25
) -> T:
    """Poll ``probe`` every ``interval`` seconds until it returns something truthy, and
    return that; fail after ``timeout`` seconds, showing the last value it returned."""
    deadline = time.monotonic() + timeout
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(interval)
