"""A throwaway PostgreSQL server on a loopback port, for lake mode's tests, benchmarks and
how-tos: ``initdb`` into a temporary directory, ``pg_ctl start``, and always stop.

It uses the server binaries of the machine's PostgreSQL (Debian's ``postgresql``
package: ``/usr/lib/postgresql/<version>/bin``). PostgreSQL refuses to run as root, so as
root every command runs as the ``postgres`` user (``runuser``), in a directory it owns.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tokentrace_backend.scenario.processes import free_port

SUPERUSER = "postgres"


def find_postgres_bin() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: the newest ``/usr/lib/postgresql/*/bin``,
    else the one beside ``pg_ctl`` on PATH; None without PostgreSQL."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    for candidate in reversed(versions):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


class PostgresServer:
    """One server: ``start()``, ``create_database()``, ``stop()`` (idempotent); ``pause()``
    and ``resume()`` take it away and bring it back with its data (failure tests)."""

    def __init__(self, bin_dir: Path, *, port: int | None = None) -> None:
        self.bin_dir = bin_dir
        self.port = port or free_port()
        self.work = Path(tempfile.mkdtemp(prefix="tokentrace-pg-"))
        self.data = self.work / "data"
        self.log = self.work / "server.log"
        self._as_postgres = os.geteuid() == 0
        self._running = False

    def _run(self, tool: str, *arguments: str) -> None:
        argv = [str(self.bin_dir / tool), *arguments]
        if self._as_postgres:
            argv = ["runuser", "-u", SUPERUSER, "--", *argv]
        done = subprocess.run(  # noqa: S603 - the PostgreSQL tools, arguments of ours
            argv, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}")

    def start(self) -> PostgresServer:
        """Create the cluster (trust authentication on loopback only) and start it."""
        if self._as_postgres:
            shutil.chown(self.work, SUPERUSER, SUPERUSER)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-instructions",
        )
        return self.resume()

    def resume(self) -> PostgresServer:
        """Start the server on the cluster made by :meth:`start` (after :meth:`pause`)."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.work} -c max_connections=200",
            "start",
        )
        self._running = True
        return self

    def pause(self) -> None:
        """Stop the server (fast shutdown: clients are disconnected), keeping its data."""
        if self._running:
            self._running = False
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str) -> str:
        """The URL of ``database`` on this server, as ``tokentrace serve --catalog`` takes it."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name``; returns its URL."""
        self._run("createdb", "-h", str(self.work), "-p", str(self.port), "-U", SUPERUSER, name)
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        try:
            self.pause()
        except RuntimeError:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
