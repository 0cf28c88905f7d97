"""The production path as real processes: Jaeger v2, our collector build, the tokentrace
backend and the scenario services, each on free loopback ports (see conftest.py for the
fixtures that start and always stop them).

The helpers live in the package (``tokentrace demo --with-collector`` runs them too);
this module names them for the tests."""

from __future__ import annotations

from pathlib import Path

from tokentrace_backend.scenario.pipeline import (
    COLLECTOR_CONFIG,
    JAEGER_CONFIG,
    Binaries,
    Collector,
    Jaeger,
    Pipeline,
    bin_dir,
    collector_env,
    start_collector,
    start_jaeger,
    start_pipeline,
)

REPO = Path(__file__).resolve().parents[2]

__all__ = [
    "COLLECTOR_CONFIG",
    "JAEGER_CONFIG",
    "REPO",
    "Binaries",
    "Collector",
    "Jaeger",
    "Pipeline",
    "bin_dir",
    "collector_env",
    "start_collector",
    "start_jaeger",
    "start_pipeline",
]
