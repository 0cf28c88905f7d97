"""Where and with which decoder an export request is decoded.

The compiled decoder (``native_decoder``) is used when it is installed, else the Python
one (``python_decoder``); JSON bodies are first turned into the protobuf request they
encode (``json_decoder``), so both encodings share the fast path.

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
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import Final

import anyio

from tokentrace import SettingsError
from tokentrace_backend.ingest.errors import MalformedRequest, MalformedSpans, Overloaded
from tokentrace_backend.ingest.json_decoder import UNKNOWN_ENUM, UNKNOWN_ENUM_NAME, encode_request
from tokentrace_backend.ingest.native_decoder import (
    NATIVE_DECODER_INSTALLED,
    decode_spans_native,
    native_decoder_problem,
)
from tokentrace_backend.ingest.protocol import Encoding
from tokentrace_backend.ingest.python_decoder import decode_spans
from tokentrace_backend.ingest.token_ids import apply_token_id_rule
from tokentrace_backend.settings import TOKENTRACE_DECODER
from tokentrace_backend.storage.span_rows import DecodedSpans

SpansDecoder = Callable[[bytes], DecodedSpans]

logger = logging.getLogger(__name__)

# --- which decoder ------------------------------------------------------------------------

# Without the native decoder, decoding holds the GIL: worker processes keep it off the
# server's GIL (below). The native decoder releases the GIL, so threads do.
_PYTHON_DECODE_WORKERS: Final = 2


@dataclass(frozen=True)
class DecoderChoice:
    """The decoder, and how many processes (0 = threads of the server) run it."""

    name: str
    decode: SpansDecoder
    workers: int
    releases_gil: bool


def choose_decoder(requested: str, workers: int | None) -> DecoderChoice:
    """``requested`` is ``auto``, ``native`` or ``python`` (``TOKENTRACE_DECODER``).

    ``native`` raises SettingsError when the native decoder cannot be used; ``auto`` then
    takes the Python one, with a warning when the native one is installed but broken.
    """
    problem = None if requested == "python" else native_decoder_problem()
    if requested == "native" and problem is not None:
        raise SettingsError(f"{TOKENTRACE_DECODER}=native, but the native decoder: {problem}")
    if requested == "auto" and problem is not None and NATIVE_DECODER_INSTALLED:
        logger.warning("using the Python span decoder: the native decoder: %s", problem)
    if requested != "python" and problem is None:
        return DecoderChoice("native", decode_spans_native, workers or 0, releases_gil=True)
    return DecoderChoice(
        "python",
        decode_spans,
        _PYTHON_DECODE_WORKERS if workers is None else workers,
        releases_gil=False,
    )


# --- one body -------------------------------------------------------------------------------


def decode_body(
    body: bytes, encoding: Encoding, spans_decoder: SpansDecoder = decode_spans
) -> DecodedSpans:
    """Decode a (decompressed) body; MalformedRequest if it is not an export request.

    JSON is first turned into the protobuf request it encodes, so both encodings share the
    one fast decoder (``spans_decoder``: the Python or the native one). The token-id rule
    (``token_ids``) then applies to what either decoder made.
    """
    if encoding is Encoding.JSON:
        body = encode_request(body)
    try:
        decoded = spans_decoder(body)
    except MalformedSpans as error:
        raise MalformedRequest(str(error)) from None
    if encoding is Encoding.JSON and str(UNKNOWN_ENUM) in decoded.error_message:
        decoded = replace(
            decoded,
            error_message=decoded.error_message.replace(str(UNKNOWN_ENUM), UNKNOWN_ENUM_NAME),
        )
    return apply_token_id_rule(decoded)


# --- threads or worker processes ----------------------------------------------------------

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
