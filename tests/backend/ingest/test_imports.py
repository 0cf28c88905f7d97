"""Every backend module imports on its own, in a fresh interpreter (no import cycles)."""

from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = [
    "tokentrace_backend.storage.writer",
    "tokentrace_backend.otlp",
    "tokentrace_backend.api",
    "tokentrace_backend.server",
]


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
