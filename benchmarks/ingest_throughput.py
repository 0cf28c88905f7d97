"""Ingest benchmark: OTLP/HTTP protobuf batches into a real `tokentrace serve`, end to end.

Starts `tokentrace serve` on free loopback ports with a temporary DuckDB file, generates
realistic export requests of 1,000 spans up front (a gateway → orders → database trace
shape, token ids, a few attributes, some exception events), sends them from K concurrent
connections, and prints:

- acknowledged spans/s (every 200 means the batch was committed to DuckDB),
- bytes on disk per span (after a checkpoint),
- peak resident memory of the server process,
- the pure protobuf parse rate of the same batches in this process, and ingest/parse,
- the two span decoders (Python and native) on the same batches in this process, and
  their ratio,
- how long the first API query takes after the run (it first derives the per-token
  tables for every span the run wrote; see docs/backend.md#derived-tables).

    .venv/bin/python benchmarks/ingest_throughput.py --batches 300 --connections 6
    .venv/bin/python benchmarks/ingest_throughput.py --decoder python   # the fallback
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from tokentrace_backend.scenario.processes import free_port

SPANS_PER_BATCH = 1000
SERVICES = [f"svc-{index:02d}" for index in range(20)]
ROUTES = ["/orders/{id}", "/orders", "/users/{id}", "/payments", "/health", "/search", "/cart"]
OUTCOMES = ["success"] * 12 + ["expired", "invalid", "insufficient_scope", "revoked"]


def _kv(key: str, value: str | int | bool | float) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _resource(service: str) -> Resource:
    return Resource(
        attributes=[
            _kv("service.name", service),
            _kv("service.version", "1.4.2"),
            _kv("telemetry.sdk.language", "python"),
            _kv("telemetry.sdk.name", "opentelemetry"),
            _kv("telemetry.sdk.version", "1.39.0"),
            _kv("host.name", f"{service}-7f9c"),
        ]
    )


# One request holds about this much traffic; a collector's batches follow each other in
# time, with spans up to a few seconds late (traces finish, services export, at their pace).
REQUEST_WINDOW_NS = 10_000_000
LATENESS_NS = 2_000_000_000


def make_request(
    rng: random.Random, tokens: list[str], window_start_ns: int
) -> ExportTraceServiceRequest:
    """One export request of SPANS_PER_BATCH spans: traces of 4 spans over 2 services,
    starting in the request's time window or up to LATENESS_NS before it."""
    by_service: dict[str, list[Span]] = {}
    while sum(len(spans) for spans in by_service.values()) < SPANS_PER_BATCH:
        trace_id = rng.randbytes(16)
        token = rng.choice(tokens)
        outcome = rng.choice(OUTCOMES)
        route = rng.choice(ROUTES)
        front, back = rng.sample(SERVICES, 2)
        start = window_start_ns - rng.randrange(LATENESS_NS) + rng.randrange(REQUEST_WINDOW_NS)
        ids = [rng.randbytes(8) for _ in range(4)]
        failed = outcome == "success" and rng.random() < 0.05
        status = 500 if failed else (200 if outcome == "success" else 401)
        server = Span(
            trace_id=trace_id,
            span_id=ids[0],
            name=f"GET {route}",
            kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=start,
            end_time_unix_nano=start + rng.randrange(1_000_000, 80_000_000),
            status=Status(code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_UNSET),
            attributes=[
                _kv("http.request.method", "GET"),
                _kv("http.route", route),
                _kv("http.response.status_code", status),
                _kv("url.path", route.replace("{id}", str(rng.randrange(10_000)))),
                _kv("url.scheme", "https"),
                _kv("client.address", f"10.0.{rng.randrange(4)}.{rng.randrange(250)}"),
                _kv("user_agent.original", "python-httpx/0.28.1"),
                _kv("network.protocol.version", "1.1"),
                _kv("tokentrace.token.id", token),
                _kv("tokentrace.token.key_id", "k1"),
                _kv("tokentrace.token.source", "header:authorization"),
                _kv("tokentrace.token.scheme", "bearer"),
                _kv("tokentrace.auth.outcome", outcome),
                _kv("tokentrace.auth.outcome_source", "inferred"),
            ],
        )
        client = Span(
            trace_id=trace_id,
            span_id=ids[1],
            parent_span_id=ids[0],
            name="GET",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=start + 500_000,
            end_time_unix_nano=start + 900_000 + rng.randrange(30_000_000),
            attributes=[
                _kv("http.request.method", "GET"),
                _kv("server.address", back),
                _kv("server.port", 8080),
                _kv("url.full", f"http://{back}:8080/items"),
                _kv("http.response.status_code", 500 if failed else 200),
                _kv("tokentrace.token.id", token),
            ],
        )
        downstream = Span(
            trace_id=trace_id,
            span_id=ids[2],
            parent_span_id=ids[1],
            name="GET /items",
            kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=start + 700_000,
            end_time_unix_nano=start + 800_000 + rng.randrange(25_000_000),
            status=Status(code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_UNSET),
            attributes=[
                _kv("http.request.method", "GET"),
                _kv("http.route", "/items"),
                _kv("http.response.status_code", 500 if failed else 200),
                _kv("url.path", "/items"),
                _kv("client.address", "10.1.0.7"),
                _kv("tokentrace.token.id", token),
            ],
        )
        database = Span(
            trace_id=trace_id,
            span_id=ids[3],
            parent_span_id=ids[2],
            name="SELECT orders",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=start + 750_000,
            end_time_unix_nano=start + 760_000 + rng.randrange(5_000_000),
            status=Status(code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_UNSET),
            attributes=[
                _kv("db.system.name", "sqlite"),
                _kv("db.query.text", "SELECT id, total FROM orders WHERE user_id = ?"),
                _kv("tokentrace.token.id", token),
            ],
        )
        if failed:
            database.events.add(
                name="exception",
                time_unix_nano=start + 760_000,
                attributes=[
                    _kv("exception.type", "sqlite3.OperationalError"),
                    _kv("exception.message", "database is locked"),
                    _kv("exception.escaped", True),
                ],
            )
        by_service.setdefault(front, []).extend([server, client])
        by_service.setdefault(back, []).extend([downstream, database])
    request = ExportTraceServiceRequest()
    for service, spans in by_service.items():
        request.resource_spans.append(
            ResourceSpans(
                resource=_resource(service),
                scope_spans=[ScopeSpans(spans=spans)],
            )
        )
    return request


def make_batches(count: int, seed: int = 7) -> list[bytes]:
    """`count` serialised export requests (each of ~SPANS_PER_BATCH spans)."""
    rng = random.Random(seed)
    tokens = [rng.randbytes(16).hex() for _ in range(10_000)]
    first_window_ns = time.time_ns() - count * REQUEST_WINDOW_NS
    return [
        make_request(rng, tokens, first_window_ns + index * REQUEST_WINDOW_NS).SerializeToString()
        for index in range(count)
    ]


def parse_rate(batches: list[bytes]) -> float:
    """Spans/s of ExportTraceServiceRequest.ParseFromString alone, best of 3."""
    best = 0.0
    for _ in range(3):
        spans = 0
        started = time.perf_counter()
        for body in batches:
            request = ExportTraceServiceRequest.FromString(body)
            spans += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        best = max(best, spans / (time.perf_counter() - started))
    return best


def decoder_rates(batches: list[bytes]) -> dict[str, float]:
    """Microseconds per span of each installed span decoder on `batches`, best of 3."""
    from tokentrace_backend.ingest.native_decoder import (
        decode_spans_native,
        native_decoder_problem,
    )
    from tokentrace_backend.ingest.python_decoder import decode_spans

    decoders = {"python": decode_spans}
    if native_decoder_problem() is None:
        decoders["native"] = decode_spans_native
    rates = {}
    for name, decode in decoders.items():
        best = float("inf")
        for _ in range(3):
            spans = 0
            started = time.perf_counter()
            for body in batches:
                spans += decode(body).accepted_spans
            best = min(best, (time.perf_counter() - started) / spans * 1e6)
        rates[name] = best
    return rates


class RssSampler(threading.Thread):
    """Samples the resident memory of the server and its decode workers while it runs."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kib = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.peak_kib = max(self.peak_kib, tree_rss_kib(self.pid))


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live children (decode workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for member in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def tree_rss_kib(pid: int) -> int:
    """Current resident memory of a process and its children."""
    return sum(_status_kib(member, "VmRSS:") for member in [pid, *_children(pid)])


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


async def send_all(url: str, batches: list[bytes], connections: int) -> tuple[int, int]:
    """Send every batch once over `connections` keep-alive connections.

    Returns (acknowledged batches, 503 retries). The client is a minimal HTTP/1.1 writer of
    prebuilt requests on asyncio streams, so that the machine's CPU goes to the server
    being measured rather than to a client library (httpx costs ~3 us of CPU per span).
    """
    parsed = httpx.URL(url)
    host, port, path = parsed.host, parsed.port or 80, parsed.raw_path.decode()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in batches:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/x-protobuf\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        queue.put_nowait(head + body)
    acknowledged = 0
    retries = 0

    async def worker() -> None:
        nonlocal acknowledged, retries
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while not queue.empty():
                request = queue.get_nowait()
                while True:
                    writer.write(request)
                    status, headers, body = await _read_response(reader)
                    if status == 200:
                        acknowledged += 1
                        break
                    if status in (429, 503):
                        retries += 1
                        await asyncio.sleep(float(headers.get("retry-after", "1")) / 10)
                        continue
                    raise RuntimeError(f"{status}: {body[:200]!r}")
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return acknowledged, retries


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--decode-workers", type=int, default=None, help="TOKENTRACE_DECODE_WORKERS for the server"
    )
    parser.add_argument(
        "--decoder",
        choices=["auto", "native", "python"],
        default="auto",
        help="TOKENTRACE_DECODER for the server",
    )
    arguments = parser.parse_args()

    batches = make_batches(arguments.batches)
    spans_per_batch = [
        sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        for request in map(ExportTraceServiceRequest.FromString, batches)
    ]
    baseline = parse_rate(batches)
    decoders = decoder_rates(batches[:50])

    with tempfile.TemporaryDirectory() as workdir:
        db_path = Path(workdir) / "bench.duckdb"
        api_port, otlp_port = free_port(), free_port()
        tokentrace = Path(sys.executable).with_name("tokentrace")
        server = subprocess.Popen(
            [
                str(tokentrace),
                "serve",
                "--db",
                str(db_path),
                "--port",
                str(api_port),
                "--otlp-port",
                str(otlp_port),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={
                **os.environ,
                "TOKENTRACE_DECODER": arguments.decoder,
                **(
                    {"TOKENTRACE_DECODE_WORKERS": str(arguments.decode_workers)}
                    if arguments.decode_workers is not None
                    else {}
                ),
            },
        )
        try:
            assert server.stdout is not None
            ready_line = server.stdout.readline().strip()
            _wait_ready(f"http://127.0.0.1:{otlp_port}/v1/traces")
            sampler = RssSampler(server.pid)
            sampler.start()
            server_cpu_before = tree_cpu_seconds(server.pid)
            client_cpu_before = time.process_time()
            started = time.perf_counter()
            acknowledged, retries = asyncio.run(
                send_all(f"http://127.0.0.1:{otlp_port}/v1/traces", batches, arguments.connections)
            )
            elapsed = time.perf_counter() - started
            client_cpu = time.process_time() - client_cpu_before
            server_cpu = tree_cpu_seconds(server.pid) - server_cpu_before
            peak_kib = max(sampler.peak_kib, tree_rss_kib(server.pid))
            query_started = time.perf_counter()
            httpx.get(f"http://127.0.0.1:{api_port}/api/tokens?limit=5", timeout=600)
            first_query = time.perf_counter() - query_started
            sampler.stop.set()
            sampler.join()
            catch_up_peak_kib = max(sampler.peak_kib, tree_rss_kib(server.pid))
        finally:
            server.terminate()
            server.wait(timeout=60)
        import duckdb

        with duckdb.connect(str(db_path)) as connection:
            stored = connection.execute("SELECT count(*) FROM spans").fetchone()
            connection.execute("CHECKPOINT")
        size = db_path.stat().st_size
        wal = db_path.with_name(db_path.name + ".wal")
        size += wal.stat().st_size if wal.exists() else 0
        spans_only = _spans_table_bytes(db_path)

    spans = sum(spans_per_batch[:acknowledged]) if acknowledged == len(batches) else None
    total_spans = spans if spans is not None else acknowledged * SPANS_PER_BATCH
    rate = total_spans / elapsed
    print(
        f"batches: {acknowledged}/{len(batches)} acknowledged, {retries} 503 retries, "
        f"{arguments.connections} connections, {elapsed:.2f} s"
    )
    print(
        f"ingest: {rate:,.0f} spans/s acknowledged (durable), "
        f"stored rows: {stored[0] if stored else 0:,}"
    )
    print(f"server: {ready_line.partition('(')[2].rstrip(')')}")
    print(f"parse baseline: {baseline:,.0f} spans/s; ingest/parse = {rate / baseline:.2%}")
    decoder_figures = ", ".join(f"{name} {micros:.2f} us/span" for name, micros in decoders.items())
    ratio = (
        f"; python/native = {decoders['python'] / decoders['native']:.1f}x"
        if "native" in decoders
        else ""
    )
    print(f"span decoders in this process: {decoder_figures}{ratio}")
    print(
        f"first API query after the run: {first_query:.2f} s "
        "(it derives the per-token tables for the spans the run wrote)"
    )
    print(
        f"disk: {size / max(total_spans, 1):.1f} bytes/span for the whole file "
        f"({size / 2**20:.1f} MiB, with the query side's derived tables); "
        f"spans + resources tables alone: {spans_only / max(total_spans, 1):.1f} bytes/span"
    )
    print(
        f"server peak RSS (with decode workers): {peak_kib / 1024:.0f} MiB during ingest, "
        f"{catch_up_peak_kib / 1024:.0f} MiB until the first query has caught up"
    )
    print(
        f"CPU per span: server {server_cpu / total_spans * 1e6:.1f} us, "
        f"client {client_cpu / total_spans * 1e6:.1f} us; machine load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


def _spans_table_bytes(db_path: Path) -> int:
    """Size of a fresh, checkpointed file holding only the spans and resources tables."""
    import duckdb

    copy = db_path.with_name("spans_only.duckdb")
    with duckdb.connect(str(copy)) as connection:
        connection.execute("ATTACH ? AS source (READ_ONLY)", [str(db_path)])
        connection.execute("CREATE TABLE spans AS SELECT * FROM source.spans")
        connection.execute("CREATE TABLE resources AS SELECT * FROM source.resources")
        connection.execute("DETACH source")
        connection.execute("CHECKPOINT")
    return copy.stat().st_size


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


if __name__ == "__main__":
    main()
