"""Waiting for the SERVER spans of requests made to a real server."""

from __future__ import annotations

import time
from typing import Any

from tokentrace.testing import SpanRecorder


def wait_for_server_spans(recorder: SpanRecorder, count: int, timeout: float = 5.0) -> list[Any]:
    """Server spans end just after the last byte is sent: poll until ``count`` have ended.

    Then wait a little longer to prove that no extra SERVER span shows up.
    """
    deadline = time.monotonic() + timeout
    while len(recorder.server_spans()) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    return recorder.server_spans()
