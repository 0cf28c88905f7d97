"""What the ingest benchmarks share: realistic OTLP export requests, a minimal HTTP client
that sends them, the servers under test (``tokentrace serve`` and the Jaeger binary) as
processes on loopback, and readings of their CPU and memory.

Imported by ``ingest_throughput.py`` and ``freshness.py`` (run as scripts from the
repository: ``.venv/bin/python benchmarks/<script>.py``).
"""

from __future__ import annotations

import asyncio
import os
import random
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from tokentrace_backend.scenario.processes import free_port

REPO = Path(__file__).resolve().parents[1]

# --- requests -------------------------------------------------------------------------------

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


TOKENS = 10_000


def probe_request(token_id: str) -> bytes:
    """One SERVER span of a request made with ``token_id``, timed now."""
    now = time.time_ns()
    span = Span(
        trace_id=random.randbytes(16),
        span_id=random.randbytes(8),
        name="GET /probe",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=now - 2_000_000,
        end_time_unix_nano=now,
        attributes=[
            _kv("http.request.method", "GET"),
            _kv("http.route", "/probe"),
            _kv("http.response.status_code", 200),
            _kv("tokentrace.token.id", token_id),
            _kv("tokentrace.auth.outcome", "success"),
        ],
    )
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(resource=_resource("probe"), scope_spans=[ScopeSpans(spans=[span])])
        ]
    )
    return bytes(request.SerializeToString())


def load_tokens(seed: int = 7) -> list[str]:
    """The token ids the requests of make_batches(..., seed) carry."""
    return _tokens(random.Random(seed))


def _tokens(rng: random.Random) -> list[str]:
    return [rng.randbytes(16).hex() for _ in range(TOKENS)]


def make_batches(count: int, seed: int = 7) -> list[bytes]:
    """`count` serialised export requests (each of ~SPANS_PER_BATCH spans)."""
    rng = random.Random(seed)
    tokens = _tokens(rng)
    first_window_ns = time.time_ns() - count * REQUEST_WINDOW_NS
    return [
        make_request(rng, tokens, first_window_ns + index * REQUEST_WINDOW_NS).SerializeToString()
        for index in range(count)
    ]


class FreshCopies:
    """Export requests to re-send for as long as a run lasts, without repeating a trace.

    Building requests with the protobuf classes costs far more CPU than the server spends on
    them, so a sustained run re-sends a few templates: each copy gets new trace ids and its
    times moved to the moment it is sent, written into the template's bytes where the
    template holds them (found once, by value).
    """

    _TRACE_ID_TAG = b"\x0a\x10"  # Span.trace_id: field 1, length-delimited, 16 bytes
    _TIME_TAGS = (b"\x39", b"\x41")  # Span.start/end_time_unix_nano: fields 7, 8, fixed64
    _EVENT_TIME_TAG = b"\x09"  # Span.Event.time_unix_nano: field 1, fixed64

    def __init__(self, templates: list[bytes]) -> None:
        self._templates = []
        for body in templates:
            request = ExportTraceServiceRequest.FromString(body)
            spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
            trace_offsets = [  # (offset, number of the trace) of every span's trace id
                (offset + len(self._TRACE_ID_TAG), number)
                for number, trace_id in enumerate(sorted({span.trace_id for span in spans}))
                for offset in _find_all(body, self._TRACE_ID_TAG + trace_id)
            ]
            patterns = [
                tag + struct.pack("<Q", time_ns)
                for span in spans
                for tag, time_ns in (
                    (self._TIME_TAGS[0], span.start_time_unix_nano),
                    (self._TIME_TAGS[1], span.end_time_unix_nano),
                    *((self._EVENT_TIME_TAG, event.time_unix_nano) for event in span.events),
                )
            ]
            time_offsets = sorted(
                {offset + 1 for pattern in patterns for offset in _find_all(body, pattern)}
            )
            base_ns = min(span.start_time_unix_nano for span in spans)
            self._templates.append((body, trace_offsets, time_offsets, base_ns, len(spans)))
        self._copies = 0

    def spans_per_copy(self) -> float:
        return sum(template[4] for template in self._templates) / len(self._templates)

    def next(self) -> tuple[bytes, int]:
        """A fresh copy of the next template, timed now, and its span count."""
        body, trace_offsets, time_offsets, base_ns, spans = self._templates[
            self._copies % len(self._templates)
        ]
        self._copies += 1
        buffer = bytearray(body)
        prefix = struct.pack(">Q", self._copies)
        for offset, number in trace_offsets:
            buffer[offset : offset + 16] = prefix + struct.pack(">Q", number + 1)
        delta = time.time_ns() - base_ns - LATENESS_NS
        for offset in time_offsets:
            struct.pack_into(
                "<Q", buffer, offset, struct.unpack_from("<Q", buffer, offset)[0] + delta
            )
        return bytes(buffer), spans


def _find_all(haystack: bytes, needle: bytes) -> list[int]:
    found = []
    start = haystack.find(needle)
    while start >= 0:
        found.append(start)
        start = haystack.find(needle, start + 1)
    return found


def spans_in(body: bytes) -> int:
    """How many spans an export request holds."""
    request = ExportTraceServiceRequest.FromString(body)
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


# --- servers under test ---------------------------------------------------------------------


@dataclass
class Server:
    """A server process under test, with where to send OTLP/HTTP and (tokentrace) the API."""

    name: str
    process: subprocess.Popen[str]
    traces_url: str
    api_url: str | None = None
    ready_line: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid


def tokentrace_env(decoder: str = "auto", decode_workers: int | None = None) -> dict[str, str]:
    env = {**os.environ, "TOKENTRACE_DECODER": decoder}
    if decode_workers is not None:
        env["TOKENTRACE_DECODE_WORKERS"] = str(decode_workers)
    return env


@contextmanager
def tokentrace_server(db_path: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """``tokentrace serve`` of this environment on free loopback ports, stopped on exit."""
    api_port, otlp_port = free_port(), free_port()
    tokentrace = Path(sys.executable).with_name("tokentrace")
    process = subprocess.Popen(
        [str(tokentrace), "serve", "--db", str(db_path), "--port", str(api_port),
         "--otlp-port", str(otlp_port)],
        stdout=subprocess.PIPE,
        text=True,
        env=env or tokentrace_env(),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        ready_line = process.stdout.readline().strip()
        server = Server(
            "tokentrace",
            process,
            f"http://127.0.0.1:{otlp_port}/v1/traces",
            f"http://127.0.0.1:{api_port}",
            ready_line,
        )
        wait_ready(server.traces_url)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=120)


def jaeger_binary() -> Path:
    """The Jaeger v2 binary that collector/build.sh builds."""
    configured = os.environ.get("TOKENTRACE_BIN_DIR")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    found = Path(configured) / "jaeger" if configured else cache / "tokentrace" / "bin" / "jaeger"
    if not found.exists():
        raise SystemExit(f"no Jaeger binary at {found}: run collector/build.sh first")
    return found


@contextmanager
def jaeger_server(max_traces: int = 1_000_000) -> Iterator[Server]:
    """Jaeger v2 (memory store, collector/jaeger.yaml) on free loopback ports."""
    http_port = free_port()
    env = {
        **os.environ,
        "JAEGER_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{free_port()}",
        "JAEGER_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{http_port}",
        "JAEGER_QUERY_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}",
        "JAEGER_QUERY_GRPC_ENDPOINT": f"127.0.0.1:{free_port()}",
        "JAEGER_HEALTH_ENDPOINT": f"127.0.0.1:{free_port()}",
        "JAEGER_METRICS_PORT": str(free_port()),
        "JAEGER_MAX_TRACES": str(max_traces),
    }
    process = subprocess.Popen(
        [str(jaeger_binary()), "--config", str(REPO / "collector" / "jaeger.yaml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        server = Server("jaeger", process, f"http://127.0.0.1:{http_port}/v1/traces")
        wait_ready(server.traces_url)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=60)


def wait_ready(url: str, timeout: float = 30.0) -> None:
    """Until something answers HTTP at ``url`` (any status)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers at {url}")


# --- readings of a server process -----------------------------------------------------------


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


# --- the client ---------------------------------------------------------------------------


async def post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, url: str, body: bytes
) -> int:
    """POST one protobuf export request on a keep-alive connection until it is acknowledged;
    returns how many times the server answered 429/503 first (each retried after a tenth of
    its Retry-After). The client is a minimal HTTP/1.1 writer on asyncio streams, so that
    the machine's CPU goes to the server being measured rather than to a client library
    (httpx costs ~3 us of CPU per span)."""
    parsed = httpx.URL(url)
    head = (
        f"POST {parsed.raw_path.decode()} HTTP/1.1\r\nHost: {parsed.host}:{parsed.port}\r\n"
        f"Content-Type: application/x-protobuf\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    retries = 0
    while True:
        writer.write(head + body)
        status, headers, answer = await _read_response(reader)
        if status == 200:
            return retries
        if status not in (429, 503):
            raise RuntimeError(f"{status}: {answer[:200]!r}")
        retries += 1
        await asyncio.sleep(float(headers.get("retry-after", "1")) / 10)


async def send_all(url: str, batches: list[bytes], connections: int) -> tuple[int, int]:
    """Send every batch once over `connections` keep-alive connections, as fast as the
    server takes them. Returns (acknowledged batches, 503 retries)."""
    parsed = httpx.URL(url)
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in batches:
        queue.put_nowait(body)
    acknowledged = 0
    retries = 0

    async def worker() -> None:
        nonlocal acknowledged, retries
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        try:
            while not queue.empty():
                retries += await post(reader, writer, url, queue.get_nowait())
                acknowledged += 1
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
