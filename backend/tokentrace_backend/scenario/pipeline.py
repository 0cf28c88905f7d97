"""The production path as real processes: Jaeger v2, our collector build, the tokentrace
backend and the scenario services, each on free loopback ports.

The end-to-end tests (tests/e2e/conftest.py has the fixtures that start and always stop
them) and ``tokentrace demo --with-collector`` run it. The binaries come from
collector/build.sh and the configurations from the repository's checkout, so it runs from
a source tree (an editable install) only: :func:`find_binaries` says when it cannot.
"""

from __future__ import annotations

import json
import os
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tokentrace_backend.scenario.processes import ManagedProcess, free_port, http_ok
from tokentrace_backend.scenario.stack import Backend, Services

# backend/tokentrace_backend/scenario/pipeline.py -> the checkout
REPO = Path(__file__).resolve().parents[3]
COLLECTOR_CONFIG = REPO / "otel-collector.yaml"
JAEGER_CONFIG = REPO / "collector" / "jaeger.yaml"


def bin_dir() -> Path:
    """Where collector/build.sh puts the binaries."""
    configured = os.environ.get("TOKENTRACE_BIN_DIR")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "tokentrace" / "bin"


@dataclass(frozen=True)
class Binaries:
    """The collector and Jaeger executables."""

    collector: Path
    jaeger: Path


def find_binaries() -> Binaries | None:
    """The built collector and Jaeger, when they and their configurations are all here."""
    found = Binaries(bin_dir() / "otelcol-tokentrace", bin_dir() / "jaeger")
    needed = (found.collector, found.jaeger, COLLECTOR_CONFIG, JAEGER_CONFIG)
    return found if all(path.exists() for path in needed) else None


@dataclass
class Jaeger:
    """Jaeger v2 with in-memory storage."""

    process: ManagedProcess
    otlp_grpc_port: int
    query_port: int

    @property
    def query_url(self) -> str:
        """Base URL of Jaeger's query API."""
        return f"http://127.0.0.1:{self.query_port}"

    def find_traces(self, service: str, tags: dict[str, str]) -> list[dict[str, Any]]:
        """Traces of ``service`` in the last hour whose spans carry ``tags`` (Jaeger's
        query API, the one its UI uses; /api/v3 gained attribute filters in v2.14)."""
        return list(self.search(service, tags).json()["data"])

    def search(self, service: str, tags: dict[str, str] | None = None) -> httpx.Response:
        """The raw answer of a trace search (its bytes are searched for tokens)."""
        now = datetime.now(UTC)
        params: dict[str, str | int] = {
            "service": service,
            "start": int((now - timedelta(hours=1)).timestamp() * 1_000_000),
            "end": int((now + timedelta(minutes=1)).timestamp() * 1_000_000),
            "limit": 1000,
        }
        if tags:
            params["tags"] = json.dumps(tags)
        response = httpx.get(f"{self.query_url}/api/traces", params=params, timeout=10)
        response.raise_for_status()
        return response

    def trace_v3(self, trace_id: str) -> httpx.Response:
        """One trace as OTLP JSON from the v3 API."""
        response = httpx.get(f"{self.query_url}/api/v3/traces/{trace_id}", timeout=10)
        response.raise_for_status()
        return response

    def find_traces_v3(self, service: str) -> httpx.Response:
        """The v3 search for ``service``'s traces of the last hour (OTLP JSON)."""
        now = datetime.now(UTC)
        params = {
            "query.service_name": service,
            "query.start_time_min": (now - timedelta(hours=1)).isoformat(),
            "query.start_time_max": (now + timedelta(minutes=1)).isoformat(),
            "query.num_traces": "1000",
        }
        response = httpx.get(f"{self.query_url}/api/v3/traces", params=params, timeout=10)
        response.raise_for_status()
        return response


def start_jaeger(binaries: Binaries, log_dir: Path) -> Jaeger:
    """Start Jaeger v2 on free ports and wait until its query API answers."""
    grpc_port, query_port = free_port(), free_port()
    env = {
        "JAEGER_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{grpc_port}",
        "JAEGER_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}",
        "JAEGER_QUERY_HTTP_ENDPOINT": f"127.0.0.1:{query_port}",
        "JAEGER_QUERY_GRPC_ENDPOINT": f"127.0.0.1:{free_port()}",
        "JAEGER_HEALTH_ENDPOINT": f"127.0.0.1:{free_port()}",
        "JAEGER_METRICS_PORT": str(free_port()),
    }
    process = ManagedProcess(
        "jaeger", [str(binaries.jaeger), "--config", str(JAEGER_CONFIG)], log_dir=log_dir, env=env
    )
    jaeger = Jaeger(process, grpc_port, query_port)
    process.start().wait_ready(http_ok(f"{jaeger.query_url}/api/services"))
    return jaeger


@dataclass
class Collector:
    """Our collector build running otel-collector.yaml."""

    process: ManagedProcess
    otlp_http_port: int

    @property
    def otlp_url(self) -> str:
        """Where applications send OTLP/HTTP."""
        return f"http://127.0.0.1:{self.otlp_http_port}"


def collector_env(jaeger: Jaeger, backend: Backend) -> dict[str, str]:
    """otel-collector.yaml's environment variables, all on free loopback ports."""
    return {
        "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{free_port()}",
        "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}",
        "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{free_port()}",
        "OTELCOL_METRICS_PORT": str(free_port()),
        "JAEGER_OTLP_ENDPOINT": f"127.0.0.1:{jaeger.otlp_grpc_port}",
        "TOKENTRACE_BACKEND_OTLP_ENDPOINT": backend.otlp_url,
    }


def start_collector(
    binaries: Binaries,
    log_dir: Path,
    env: dict[str, str],
    *,
    config: Path = COLLECTOR_CONFIG,
    name: str = "collector",
    health_variable: str = "OTELCOL_HEALTH_ENDPOINT",
) -> Collector:
    """Start the collector with ``config`` (otel-collector.yaml, or lake mode's
    load-balancing tier or node relay) and wait for the health check at the address of
    ``env[health_variable]``. Its OTLP/HTTP port is 0 when ``env`` gives it none (a relay
    takes gRPC only)."""
    process = ManagedProcess(
        name, [str(binaries.collector), "--config", str(config)], log_dir=log_dir, env=env
    )
    process.start().wait_ready(http_ok(f"http://{env[health_variable]}/"))
    http = env.get("OTELCOL_OTLP_HTTP_ENDPOINT")
    return Collector(process, int(http.rsplit(":", 1)[1]) if http else 0)


@dataclass
class Pipeline:
    """Everything of the production path, running: services → collector → Jaeger + backend."""

    jaeger: Jaeger
    backend: Backend
    collector: Collector
    services: Services
    log_dir: Path

    def processes(self) -> list[ManagedProcess]:
        """Every process, for log searches."""
        found = [self.jaeger.process, self.collector.process, *self.services.processes]
        if self.backend.process is not None:
            found.append(self.backend.process)
        return found

    def stop(self) -> None:
        """Stop everything, services first so their last spans are flushed; one failing
        stop does not leave the others running."""
        with ExitStack() as stops:  # runs every callback, last registered first
            # Jaeger's graceful shutdown can take 10+ s after many queries; its storage is
            # in memory, so there is nothing to lose by not waiting.
            stops.callback(self.jaeger.process.stop, timeout=2)
            stops.callback(self.backend.stop)
            stops.callback(self.collector.process.stop)
            stops.callback(self.services.stop)


def start_pipeline(binaries: Binaries, work_dir: Path) -> Pipeline:
    """Start Jaeger, the backend, the collector and the services; stop all on failure."""
    log_dir = work_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as on_failure:
        jaeger = start_jaeger(binaries, log_dir)
        on_failure.callback(jaeger.process.stop)
        backend = Backend(db_path=work_dir / "tokentrace.duckdb", log_dir=log_dir)
        on_failure.callback(backend.stop)
        backend.start()
        collector = start_collector(binaries, log_dir, collector_env(jaeger, backend))
        on_failure.callback(collector.process.stop)
        services = Services(otlp_endpoint=collector.otlp_url, log_dir=log_dir)
        on_failure.callback(services.stop)
        services.start()
        on_failure.pop_all()  # everything started: the caller stops it from now on
    return Pipeline(jaeger, backend, collector, services, log_dir)
