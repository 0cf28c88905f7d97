"""Per-request cost of tokentrace's middleware against the official OTel middleware alone.

Drives requests straight through the ASGI and WSGI callables (no network), interleaving
the three variants round by round in one process so that they share the machine's state:

- bare: the app alone;
- otel: contrib's ``OpenTelemetryMiddleware`` with an SDK tracer provider;
- tokentrace: ``tokentrace.ASGIMiddleware`` / ``WSGIMiddleware`` (which wraps contrib's),
  with its own provider and tokentrace's span processor.

Both providers batch into an exporter that drops spans, so export cost is equal and
small. Requests carry ``Authorization: Bearer <token>`` drawn from 100 tokens (the
fingerprint cache is warm after the first round, as in production) and a query string.

    python benchmarks/middleware_overhead.py [--rounds 30] [--requests 2000]

Target: tokentrace / otel <= 1.05 for ASGI and for WSGI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

os.environ.setdefault("TOKENTRACE_HASH_KEY", "benchmark-key-0123456789abcdef0123456789")

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware as OtelASGI
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as OtelWSGI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import tokentrace

TOKENS = [f"bench-token-{number:04d}-{'x' * 24}" for number in range(100)]


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


# ---- driver ---------------------------------------------------------------------------


def measure(
    name: str, variants: dict[str, Callable[[int], float]], rounds: int, requests: int
) -> dict[str, float]:
    for run in variants.values():  # warm-up: imports, caches, fingerprint cache
        run(requests)
    samples: dict[str, list[float]] = {key: [] for key in variants}
    order = list(variants)
    for _ in range(rounds):
        random.shuffle(order)
        for key in order:
            samples[key].append(variants[key](requests))
    medians = {key: statistics.median(values) for key, values in samples.items()}
    best = {key: min(values) for key, values in samples.items()}
    print(f"{name}: µs per request over {rounds} interleaved rounds of {requests}")
    print(f"  {'':<11} {'median':>8}  {'best round':>10}")
    for key, median in medians.items():
        print(f"  {key:<11} {median:8.2f}  {best[key]:10.2f}")
    ratio = medians["tokentrace"] / medians["otel"]
    best_ratio = best["tokentrace"] / best["otel"]
    print(f"  ratio tokentrace / otel alone: {ratio:.3f} median, {best_ratio:.3f} best round")
    print("  (target <= 1.05)")
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    otel_asgi = OtelASGI(asgi_app, tracer_provider=provider(False))
    tt_asgi = tokentrace.ASGIMiddleware(asgi_app, tracer_provider=provider(True))
    loop = asyncio.new_event_loop()
    measure(
        "ASGI",
        {
            "bare": lambda n: loop.run_until_complete(run_asgi(asgi_app, n)),
            "otel": lambda n: loop.run_until_complete(run_asgi(otel_asgi, n)),
            "tokentrace": lambda n: loop.run_until_complete(run_asgi(tt_asgi, n)),
        },
        args.rounds,
        args.requests,
    )
    loop.close()

    otel_wsgi = OtelWSGI(wsgi_app, tracer_provider=provider(False))
    tt_wsgi = tokentrace.WSGIMiddleware(wsgi_app, tracer_provider=provider(True))
    measure(
        "WSGI",
        {
            "bare": lambda n: run_wsgi(wsgi_app, n),
            "otel": lambda n: run_wsgi(otel_wsgi, n),
            "tokentrace": lambda n: run_wsgi(tt_wsgi, n),
        },
        args.rounds,
        args.requests,
    )


if __name__ == "__main__":
    main()
