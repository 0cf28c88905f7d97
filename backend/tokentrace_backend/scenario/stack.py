"""The reference scenario as processes: the tokentrace backend, ``gateway`` and ``orders``.

``tokentrace demo`` points the services' OTLP exporters straight at the backend (the
embedded default); the end-to-end tests point them at a real collector instead.
"""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import tokentrace
from tokentrace._settings import ENV_HASH_KEY, ENV_HASH_KEY_ID
from tokentrace_backend.scenario.processes import ManagedProcess, free_port, http_ok, tcp_open

# The fingerprint key every process of the scenario shares (fingerprints must match across
# gateway, orders and `tokentrace hash`). A demo key, not a secret.
SCENARIO_HASH_KEY = "tokentrace-scenario-demo-key-0123456789"


def tokentrace_command() -> list[str]:
    """How to run the ``tokentrace`` command of this environment."""
    beside = Path(sys.executable).with_name("tokentrace")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("tokentrace")
    if found is None:
        raise FileNotFoundError("the `tokentrace` command is not installed")
    return [found]


def _hash_key() -> tuple[str, str]:
    """The fingerprint key and key id: the environment's when set, else the scenario's."""
    if os.environ.get(ENV_HASH_KEY):
        return os.environ[ENV_HASH_KEY], os.environ.get(ENV_HASH_KEY_ID) or "scenario"
    return SCENARIO_HASH_KEY, "scenario"


def scenario_fingerprinter() -> tokentrace.Fingerprinter:
    """Fingerprints as the scenario's services compute them (to look tokens up)."""
    key, key_id = _hash_key()
    return tokentrace.Fingerprinter(key.encode("utf-8"), key_id)


def scenario_env(otlp_endpoint: str) -> dict[str, str]:
    """Environment for a scenario service exporting OTLP/HTTP to ``otlp_endpoint``."""
    key, key_id = _hash_key()
    return {
        ENV_HASH_KEY: key,
        ENV_HASH_KEY_ID: key_id,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        # Export quickly: the demo and the tests read the results a moment later.
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_TRACES_SAMPLER": "always_on",
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class Backend:
    """``tokentrace serve`` as a subprocess on free loopback ports."""

    db_path: Path
    log_dir: Path
    api_port: int = field(default_factory=free_port)
    otlp_port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    name: str = "backend"  # of its log file, <log_dir>/<name>.log
    process: ManagedProcess | None = None
    args: list[str] = field(default_factory=list)  # more options of ``tokentrace serve``
    # The ``tokentrace`` command to run (default: this environment's). A lake node runs the
    # one of an environment with the ``tokentrace[lake]`` extra.
    command: list[str] | None = None

    @property
    def api_url(self) -> str:
        """Base URL of the correlation API (and dashboard)."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def otlp_url(self) -> str:
        """Base URL of the OTLP/HTTP receiver (``/v1/traces`` below it)."""
        return f"http://127.0.0.1:{self.otlp_port}"

    def start(self, timeout: float = 60.0) -> Backend:
        """Start (or restart, same ports and database) and wait until both ports answer."""
        if self.process is None:
            argv = [
                *(self.command or tokentrace_command()),
                "serve",
                "--db",
                str(self.db_path),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.api_port),
                "--otlp-port",
                str(self.otlp_port),
                *self.args,
            ]
            self.process = ManagedProcess(
                self.name, argv, log_dir=self.log_dir, env={"PYTHONUNBUFFERED": "1", **self.env}
            )
        self.process.start()
        self.process.wait_ready(http_ok(f"{self.api_url}/api/session"), timeout)
        self.process.wait_ready(tcp_open(self.otlp_port), timeout)
        return self

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after a grace period)."""
        if self.process is not None:
            self.process.stop()


@dataclass
class Services:
    """The scenario's ``orders`` and ``gateway`` processes."""

    otlp_endpoint: str
    log_dir: Path
    gateway_port: int = field(default_factory=free_port)
    orders_port: int = field(default_factory=free_port)
    processes: list[ManagedProcess] = field(default_factory=list)

    @property
    def gateway_url(self) -> str:
        """Where clients reach the gateway."""
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def orders_url(self) -> str:
        """Where the gateway reaches orders."""
        return f"http://127.0.0.1:{self.orders_port}"

    def start(self, timeout: float = 60.0) -> Services:
        """Start orders then gateway, each polled until its /healthz answers."""
        env = scenario_env(self.otlp_endpoint)
        python = sys.executable
        orders = ManagedProcess(
            "orders",
            [python, "-m", "tokentrace_backend.scenario.orders", "--port", str(self.orders_port)],
            log_dir=self.log_dir,
            env=env,
        )
        gateway = ManagedProcess(
            "gateway",
            [
                python,
                "-m",
                "tokentrace_backend.scenario.gateway",
                "--port",
                str(self.gateway_port),
                "--orders-url",
                self.orders_url,
            ],
            log_dir=self.log_dir,
            env=env,
        )
        self.processes = [orders, gateway]
        orders.start().wait_ready(http_ok(f"{self.orders_url}/healthz"), timeout)
        gateway.start().wait_ready(http_ok(f"{self.gateway_url}/healthz"), timeout)
        return self

    def stop(self) -> None:
        """Stop gateway then orders (every stop runs); they flush their spans on SIGTERM."""
        with ExitStack() as stops:  # callbacks run last registered first
            for process in self.processes:
                stops.callback(process.stop)
