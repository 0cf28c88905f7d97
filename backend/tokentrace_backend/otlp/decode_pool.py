"""Where export requests are decoded: worker processes, or threads of this process.

The native decoder releases the GIL while it decodes, so threads of the server process
decode in parallel with the event loop and the writer (one thread per core). The Python
decoder is CPU work under the GIL. DuckDB's writer also needs the GIL for parts of every
insert and commit, so decoding in threads of the server process slows the writer down
(measured: about 2x per row on a busy 2-core machine). With ``workers > 0`` requests are
decoded in separate processes (spawned, never forked: the server holds a DuckDB
connection and threads) and come back as pickled Arrow tables, leaving the server
process's GIL to the event loop and the writer. ``workers = 0`` decodes in threads,
which starts faster and is what small deployments and most tests use.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import anyio

from tokentrace_backend.otlp.body import Encoding
from tokentrace_backend.otlp.body_decoding import decode_body
from tokentrace_backend.otlp.decoders import DecoderChoice, choose_decoder
from tokentrace_backend.otlp.errors import Overloaded
from tokentrace_backend.otlp.span_columns import DecodedSpans

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_GC_THRESHOLD = 100_000


def _worker_started(server_pid: int) -> None:
    # The server handles SIGINT/SIGTERM and shuts the pool down; a Ctrl-C in the terminal
    # reaches the whole process group, and workers must not die mid-request because of it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Decoding allocates a list per span; with the default thresholds the cyclic collector
    # runs every few spans and walks the attribute cache each time (~10 % of decode CPU).
    # The decoder creates no reference cycles, so collecting rarely loses nothing.
    gc.set_threshold(_GC_THRESHOLD, 50, 100)
    _exit_with_server(server_pid)


def _exit_with_server(server_pid: int) -> None:
    """A worker must not outlive a server that was killed (kill -9 runs no cleanup)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != server_pid:  # the server died before the line above
        os._exit(1)

    def watch() -> None:  # portable fallback, and a second line of defence
        while os.getppid() == server_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="tokentrace-server-watch", daemon=True).start()


def usable_cpus() -> int:
    """The CPUs this process may run on. os.cpu_count() counts the machine's, also in a
    container or under taskset, and each decode thread holds a request's columns."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _ping() -> int:
    return os.getpid()


class DecodePool:
    """Runs :func:`decode_body` in worker processes (or threads when ``workers`` is 0)."""

    def __init__(self, decoder: DecoderChoice | None = None) -> None:
        self.decoder = decoder if decoder is not None else choose_decoder("auto", 0)
        self.workers = self.decoder.workers
        # A decoder that holds the GIL gains nothing from a second thread, only switching.
        self.threads = usable_cpus() if self.decoder.releases_gil else 1
        """Requests decoded at once in threads of this process (with ``workers`` 0)."""
        self._limiter = anyio.CapacityLimiter(self.threads)
        self._executor: ProcessPoolExecutor | None = None
        if self.workers > 0:
            self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_started,
            initargs=(os.getpid(),),
        )

    def start(self) -> list[int]:
        """Start every worker now (not on the first request); returns their pids."""
        if self._executor is None:
            return []
        futures = [self._executor.submit(_ping) for _ in range(self.workers)]
        return sorted({future.result(timeout=60) for future in futures})

    async def decode(self, body: bytes, encoding: Encoding) -> DecodedSpans:
        """Decode one request body; raises the receiver's IngestErrors."""
        executor = self._executor
        if executor is None:
            return await anyio.to_thread.run_sync(
                decode_body, body, encoding, self.decoder.decode, limiter=self._limiter
            )
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                executor, decode_body, body, encoding, self.decoder.decode
            )
        except BrokenProcessPool:
            logger.error("a decoder process died; starting a new pool")
            if self._executor is executor:
                self._executor = self._new_executor()
            raise Overloaded("a decoder process restarted; retry") from None

    def close(self) -> None:
        """Stop the workers (requests still queued for them are cancelled)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
