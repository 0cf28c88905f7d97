"""A real ``tokentrace serve`` subprocess on free loopback ports, for the ingest tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import duckdb

TOKENTRACE = str(Path(sys.executable).with_name("tokentrace"))


def free_port() -> int:
    """A port nobody listens on right now (bind port 0, read it back)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServeProcess:
    """Starts ``tokentrace serve`` and waits until both ports accept connections."""

    def __init__(self, db_path: Path, env: dict[str, str] | None = None) -> None:
        self.db_path = db_path
        self.otlp_port = free_port()
        self.api_port = free_port()
        self.log_path = db_path.with_suffix(f".{self.otlp_port}.log")
        # Decoding in threads starts faster; tests of the worker processes ask for them.
        self._env = {**os.environ, "TOKENTRACE_DECODE_WORKERS": "0", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def traces_url(self) -> str:
        return f"http://127.0.0.1:{self.otlp_port}/v1/traces"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, timeout: float = 30.0) -> ServeProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    TOKENTRACE,
                    "serve",
                    "--db",
                    str(self.db_path),
                    "--port",
                    str(self.api_port),
                    "--otlp-port",
                    str(self.otlp_port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tokentrace serve exited early:\n{self.log()}")
            if "ready" in self.log() and _accepts(self.otlp_port) and _accepts(self.api_port):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"tokentrace serve did not become ready:\n{self.log()}")

    def children(self) -> list[int]:
        """Pids of the server's child processes (its decode workers)."""
        assert self.process is not None
        pid = self.process.pid
        try:
            return [
                int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            ]
        except OSError:
            return []

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, wait for the clean exit, return the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye (the crash test's power cut)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def query(self, sql: str, parameters: list[object] | None = None) -> list[tuple[object, ...]]:
        """Run SQL on the database file (the server must be stopped: DuckDB locks the file)."""
        with duckdb.connect(str(self.db_path), read_only=True) as connection:
            return connection.execute(sql, parameters or []).fetchall()

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.stop(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
