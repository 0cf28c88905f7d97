"""Real processes on loopback (the demo and the end-to-end tests): start, poll, always stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness check: ``url`` answers 2xx."""

    def check() -> bool:
        try:
            return httpx.get(url, timeout=1.0).is_success
        except httpx.HTTPError:
            return False

    return check


def tcp_open(port: int) -> Callable[[], bool]:
    """A readiness check: something accepts connections on 127.0.0.1:``port``."""

    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return True
        except OSError:
            return False

    return check


class ManagedProcess:
    """One subprocess with its output in a log file; ``stop()`` is safe to call twice."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_dir: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.log_path = log_dir / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> ManagedProcess:
        """Start (or restart) the process; its output goes to ``log_path``."""
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._process = subprocess.Popen(  # noqa: S603 - argv built by the tests
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {})},
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    def wait_ready(self, check: Callable[[], bool], timeout: float = 60.0) -> ManagedProcess:
        """Poll ``check`` until it passes; fail with the log's tail if the process dies.

        A process that never becomes ready is stopped before the error is raised, so no
        caller can leave it behind."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            if check():
                return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"{self.name} not ready after {timeout} s:\n{self.log_tail()}")

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        """The process id (of the last start)."""
        if self._process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._process.pid

    def poll(self) -> int | None:
        """The exit code, or None while it runs (or was never started)."""
        return None if self._process is None else self._process.poll()

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait for a clean exit (the process stops its own children); SIGKILL
        the whole process group if it is not gone after ``timeout``. Returns the exit code
        (None if it was never started)."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            try:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        return process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL the process alone: no flush, no goodbye (a power cut). Its children are
        left to notice, as they would be after a real crash."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the process's output, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def log_bytes(self) -> bytes:
        """Everything the process printed (searched for leaked tokens)."""
        return self.log_path.read_bytes() if self.log_path.exists() else b""
