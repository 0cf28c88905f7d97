"""Fixtures for the end-to-end tests: Jaeger v2, our collector, the tokentrace backend and
the scenario services, each a real process on free loopback ports, always stopped.

The Go binaries come from collector/build.sh (cached in ~/.cache/tokentrace/bin). Without
Go the tests skip, saying so; under CI (CI=true) a missing binary is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.pipeline import REPO, Binaries, Pipeline, bin_dir, start_pipeline


@pytest.fixture(scope="session")
def binaries() -> Binaries:
    """The built binaries; builds them (cached) when Go is here, skips when it is not."""
    found = Binaries(bin_dir() / "otelcol-tokentrace", bin_dir() / "jaeger")
    if found.collector.exists() and found.jaeger.exists():
        return found
    in_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    if shutil.which("go") is None:
        message = (
            f"the collector and Jaeger binaries are not in {bin_dir()} and Go is not "
            "installed to build them (install Go, then run collector/build.sh)"
        )
        if in_ci:
            pytest.fail(message)
        pytest.skip(message)
    build = subprocess.run(
        ["bash", str(REPO / "collector" / "build.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    if build.returncode != 0 or not (found.collector.exists() and found.jaeger.exists()):
        pytest.fail(f"collector/build.sh failed:\n{build.stdout}\n{build.stderr}")
    return found


@pytest.fixture
def pipeline(binaries: Binaries, tmp_path: Path) -> Iterator[Pipeline]:
    """A fresh pipeline for one test (for tests that stop and start parts of it)."""
    running = start_pipeline(binaries, tmp_path)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def shared_pipeline(
    binaries: Binaries, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """One pipeline shared by a module's read-only tests."""
    running = start_pipeline(binaries, tmp_path_factory.mktemp("pipeline"))
    try:
        yield running
    finally:
        running.stop()
