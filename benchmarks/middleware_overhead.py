"""Per-request cost of tokentrace's middleware against the official OTel middleware alone.

Drives requests straight through the ASGI and WSGI callables (no network), interleaving
the three variants round by round in one process so that they share the machine's state:

- bare: the app alone;
- otel: contrib's ``OpenTelemetryMiddleware`` with an SDK tracer provider;
- tokentrace: ``tokentrace.ASGIMiddleware`` / ``WSGIMiddleware`` (which wraps contrib's),
  with its own provider and tokentrace's span processor;
- floor: the least any such instrumentation can cost through the SDK's public API: a
  minimal middleware inside contrib's that computes the same HMAC fingerprint of the
  token (no cache) and writes the same seven attributes (five token attributes, the
  inferred outcome and its source) to the SERVER span with one ``set_attributes`` when
  the response starts. No baggage, no span processor, no redaction, no fail-safe.

Both providers batch into an exporter that drops spans, so export cost is equal and
small. Requests carry ``Authorization: Bearer <token>`` drawn from 100 tokens (the
fingerprint cache is warm after the first round, as in production) and a query string.

    python benchmarks/middleware_overhead.py [--rounds 30] [--requests 2000]

Besides time (wall clock, and the CPU time of the benchmark thread, which a busy machine
disturbs less), it counts Python and C calls per request (``sys.setprofile`` over
``--count-requests`` requests, the benchmark thread only): a deterministic measure of work
that does not depend on how busy the machine is.

Target: tokentrace / otel <= 1.05 for ASGI and for WSGI.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

os.environ.setdefault("TOKENTRACE_HASH_KEY", "benchmark-key-0123456789abcdef0123456789")

from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware as OtelASGI
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as OtelWSGI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import tokentrace

TOKENS = [f"bench-token-{number:04d}-{'x' * 24}" for number in range(100)]
KEY = os.environ["TOKENTRACE_HASH_KEY"].encode()


class DroppingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def provider(with_tokentrace: bool) -> TracerProvider:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(
        BatchSpanProcessor(DroppingExporter(), max_queue_size=65536, schedule_delay_millis=200)
    )
    if with_tokentrace:
        tokentrace.install_processor(tracer_provider)
    return tracer_provider


# ---- ASGI -----------------------------------------------------------------------------


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok"})


def asgi_scope(token: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/orders/42", "raw_path": b"/orders/42",
        "query_string": b"page=2&sort=desc", "root_path": "",
        "headers": [
            (b"host", b"api.example"), (b"user-agent", b"bench/1.0"), (b"accept", b"*/*"),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("10.0.0.7", 51234), "server": ("10.0.0.1", 8000),
    }  # fmt: skip


async def run_asgi(app: Callable[..., Any], requests: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    scopes = [asgi_scope(TOKENS[n % len(TOKENS)]) for n in range(requests)]
    start = time.perf_counter()
    for scope in scopes:
        await app(scope, receive, send)
    return (time.perf_counter() - start) / requests * 1e6


# ---- WSGI -----------------------------------------------------------------------------


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def wsgi_environ(token: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/orders/42",
        "QUERY_STRING": "page=2&sort=desc", "RAW_URI": "/orders/42?page=2&sort=desc",
        "SERVER_NAME": "10.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7", "REMOTE_PORT": "51234", "HTTP_HOST": "api.example",
        "HTTP_USER_AGENT": "bench/1.0", "HTTP_ACCEPT": "*/*",
        "HTTP_AUTHORIZATION": f"Bearer {token}", "wsgi.url_scheme": "http",
    }  # fmt: skip


def run_wsgi(app: Callable[..., Any], requests: int) -> float:
    environs = [wsgi_environ(TOKENS[n % len(TOKENS)]) for n in range(requests)]

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
        return lambda data: None

    start = time.perf_counter()
    for environ in environs:
        body = app(environ, start_response)
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return (time.perf_counter() - start) / requests * 1e6


# ---- floor: the same attributes, written once, through the public API ------------------


class Floor:
    """What any instrumentation that records these attributes must at least do."""

    def __init__(self) -> None:
        self._mac = hmac.new(KEY, digestmod=hashlib.sha256)

    def attributes(self, authorization: str | None, status: int) -> dict[str, Any]:
        if not authorization or not authorization.startswith("Bearer "):
            return {}
        mac = self._mac.copy()
        mac.update(authorization[7:].encode())
        return {
            "tokentrace.token.source": "header:authorization",
            "tokentrace.token.scheme": "bearer",
            "tokentrace.token.id": mac.digest()[:16].hex(),
            "tokentrace.token.key_id": "bench",
            "tokentrace.token.kind": "opaque",
            "tokentrace.auth.outcome": "success" if status < 400 else "invalid",
            "tokentrace.auth.outcome_source": "inferred",
        }


def floor_asgi(app: Callable[..., Any]) -> Callable[..., Any]:
    floor = Floor()

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        span = trace.get_current_span()
        authorization = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")

        async def floor_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                span.set_attributes(floor.attributes(authorization, message["status"]))
            await send(message)

        await app(scope, receive, floor_send)

    return middleware


def floor_wsgi(app: Callable[..., Any]) -> Callable[..., Any]:
    floor = Floor()

    def middleware(environ: dict[str, Any], start_response: Any) -> Any:
        span = trace.get_current_span()
        authorization = environ.get("HTTP_AUTHORIZATION")

        def floor_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            span.set_attributes(floor.attributes(authorization, int(status[:3])))
            return start_response(status, headers, exc_info)

        return app(environ, floor_start_response)

    return middleware


# ---- driver ---------------------------------------------------------------------------


def calls_per_request(run: Callable[[int], float], requests: int) -> float:
    """Python function calls and C calls made in this thread, per request."""
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call" or event == "c_call":
            count += 1

    sys.setprofile(profile)
    try:
        run(requests)
    finally:
        sys.setprofile(None)
    return count / requests


def timed(run: Callable[[int], float], requests: int) -> tuple[float, float]:
    """(wall µs, thread CPU µs) per request."""
    cpu = time.thread_time()
    wall = run(requests)
    return wall, (time.thread_time() - cpu) / requests * 1e6


def measure(
    name: str,
    variants: dict[str, Callable[[int], float]],
    rounds: int,
    requests: int,
    count_requests: int,
) -> dict[str, float]:
    for run in variants.values():  # warm-up: imports, caches, fingerprint cache
        run(requests)
    calls = {key: calls_per_request(run, count_requests) for key, run in variants.items()}
    samples: dict[str, list[float]] = {key: [] for key in variants}
    cpu: dict[str, list[float]] = {key: [] for key in variants}
    order = list(variants)
    for _ in range(rounds):
        random.shuffle(order)
        for key in order:
            wall, thread = timed(variants[key], requests)
            samples[key].append(wall)
            cpu[key].append(thread)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    best = {key: min(values) for key, values in samples.items()}
    cpu_medians = {key: statistics.median(values) for key, values in cpu.items()}
    print(f"{name}: per request over {rounds} interleaved rounds of {requests}")
    print(f"  {'':<11} {'median µs':>10} {'best µs':>8} {'cpu µs':>8} {'calls':>8}")
    for key, median in medians.items():
        print(
            f"  {key:<11} {median:10.2f} {best[key]:8.2f} {cpu_medians[key]:8.2f} {calls[key]:8.1f}"
        )
    print("  ratios against otel alone:")
    for key in ("tokentrace", "floor"):
        print(
            f"    {key:<11} time {medians[key] / medians['otel']:.3f} median,"
            f" {best[key] / best['otel']:.3f} best round,"
            f" cpu {cpu_medians[key] / cpu_medians['otel']:.3f};"
            f" calls {calls[key] / calls['otel']:.3f} ({calls[key] - calls['otel']:+.0f})"
        )
    print(
        f"    tokentrace / floor: time {medians['tokentrace'] / medians['floor']:.3f},"
        f" calls {calls['tokentrace'] / calls['floor']:.3f}"
    )
    print("  (target tokentrace / otel <= 1.05)")
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--count-requests", type=int, default=500, help="requests to count calls over"
    )
    args = parser.parse_args()

    otel_asgi = OtelASGI(asgi_app, tracer_provider=provider(False))
    tt_asgi = tokentrace.ASGIMiddleware(asgi_app, tracer_provider=provider(True))
    floor_of_asgi = OtelASGI(floor_asgi(asgi_app), tracer_provider=provider(False))
    loop = asyncio.new_event_loop()
    measure(
        "ASGI",
        {
            "bare": lambda n: loop.run_until_complete(run_asgi(asgi_app, n)),
            "otel": lambda n: loop.run_until_complete(run_asgi(otel_asgi, n)),
            "tokentrace": lambda n: loop.run_until_complete(run_asgi(tt_asgi, n)),
            "floor": lambda n: loop.run_until_complete(run_asgi(floor_of_asgi, n)),
        },
        args.rounds,
        args.requests,
        args.count_requests,
    )
    loop.close()

    otel_wsgi = OtelWSGI(wsgi_app, tracer_provider=provider(False))
    tt_wsgi = tokentrace.WSGIMiddleware(wsgi_app, tracer_provider=provider(True))
    floor_of_wsgi = OtelWSGI(floor_wsgi(wsgi_app), tracer_provider=provider(False))
    measure(
        "WSGI",
        {
            "bare": lambda n: run_wsgi(wsgi_app, n),
            "otel": lambda n: run_wsgi(otel_wsgi, n),
            "tokentrace": lambda n: run_wsgi(tt_wsgi, n),
            "floor": lambda n: run_wsgi(floor_of_wsgi, n),
        },
        args.rounds,
        args.requests,
        args.count_requests,
    )


if __name__ == "__main__":
    main()
