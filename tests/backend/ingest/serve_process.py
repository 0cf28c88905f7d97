"""A real ``tokentrace serve`` subprocess on free loopback ports, for the ingest tests: the
scenario's :class:`Backend`, plus what the tests inspect (its log, its children, the file)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import duckdb

from tokentrace_backend.ingest import TRACES_PATH
from tokentrace_backend.scenario.processes import ManagedProcess, free_port
from tokentrace_backend.scenario.stack import Backend, tokentrace_command

TOKENTRACE = tokentrace_command()[0]


class ServeProcess:
    """Starts ``tokentrace serve`` and waits until both ports answer."""

    def __init__(
        self, db_path: Path, env: dict[str, str] | None = None, args: list[str] | None = None
    ) -> None:
        self.db_path = db_path
        self.otlp_port = free_port()
        self.api_port = free_port()
        self._backend = Backend(
            db_path=db_path,
            log_dir=db_path.parent,
            api_port=self.api_port,
            otlp_port=self.otlp_port,
            # Decoding in threads starts faster; tests of the worker processes ask for them.
            env={"TOKENTRACE_DECODE_WORKERS": "0", **(env or {})},
            name=f"{db_path.stem}.{self.otlp_port}",
            args=list(args or []),
        )

    @property
    def traces_url(self) -> str:
        return self._backend.otlp_url + TRACES_PATH

    @property
    def api_url(self) -> str:
        return self._backend.api_url

    @property
    def process(self) -> ManagedProcess | None:
        return self._backend.process

    def start(self, timeout: float = 30.0) -> ServeProcess:
        self._backend.start(timeout)
        return self

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
        return "" if self.process is None else self.process.log_bytes().decode(errors="replace")

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM, wait for the clean exit, return the exit code."""
        assert self.process is not None
        return self.process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye (the crash test's power cut)."""
        if self.process is not None:
            self.process.kill()

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
        if self.process is not None:
            self.process.stop(timeout=30)
