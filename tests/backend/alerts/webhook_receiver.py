"""A real webhook on loopback: an ``http.server`` in a thread of the test that records every
POST and answers each path as the test scripted it (statuses in turn, ``HANG``: read the
request and never answer, or ``TRICKLE``: answer, very slowly; until the receiver stops)."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

HANG = "hang"
TRICKLE = "trickle"  # answer 200 with a body sent a byte every 0.2 s: no read ever times out


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    path: str
    at: float  # time.monotonic()
    headers: dict[str, str]
    body: Any

    @property
    def finding_id(self) -> int:
        return int(self.body["tokentrace"]["finding_id"])


class WebhookReceiver:
    """``with WebhookReceiver() as hooks:`` then ``hooks.url("/ok")``. Every path answers
    200 unless :meth:`script` says otherwise."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._scripts: dict[str, deque[int | str]] = defaultdict(deque)
        self._defaults: dict[str, int | str] = {}
        self._received: list[Received] = []
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                answer = receiver._record(self.path, dict(self.headers.items()), raw)
                if answer == HANG:
                    receiver._release.wait()
                    self.close_connection = True
                    return
                if answer == TRICKLE:
                    self.close_connection = True
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    try:
                        while not receiver._release.wait(0.2):
                            self.wfile.write(b".")
                            self.wfile.flush()
                    except OSError:  # the client gave up
                        pass
                    return
                payload = b"ok" if answer == 200 else b"scripted failure"
                self.send_response(int(answer))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{path}"

    def script(self, path: str, *answers: int | str, then: int | str = 200) -> None:
        """Answer ``path``'s next requests with ``answers`` in turn, then always ``then``."""
        with self._lock:
            self._scripts[path] = deque(answers)
            self._defaults[path] = then

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def wait_for(
        self, path: str, count: int, timeout: float = 15.0, finding_id: int | None = None
    ) -> list[Received]:
        """Wait until ``path`` has received ``count`` requests (of ``finding_id``)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                got = [
                    r
                    for r in self._received
                    if r.path == path and (finding_id is None or r.finding_id == finding_id)
                ]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{path} received {len(got)} of {count}: {got}")
                self._lock.wait(remaining)

    def _record(self, path: str, headers: dict[str, str], raw: bytes) -> int | str:
        with self._lock:
            self._received.append(Received(path, time.monotonic(), headers, json.loads(raw)))
            self._lock.notify_all()
            script = self._scripts[path]
            return script.popleft() if script else self._defaults.get(path, 200)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
