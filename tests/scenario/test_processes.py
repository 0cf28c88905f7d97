"""Managed processes never outlive a failed start."""

import sys
from pathlib import Path

import pytest

from tokentrace_backend.scenario.processes import ManagedProcess


def test_a_process_that_never_gets_ready_is_stopped(tmp_path: Path) -> None:
    process = ManagedProcess(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], log_dir=tmp_path
    ).start()
    with pytest.raises(TimeoutError, match="sleeper not ready"):
        process.wait_ready(lambda: False, timeout=0.5)
    assert not process.running
