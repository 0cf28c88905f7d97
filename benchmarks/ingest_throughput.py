"""Ingest benchmark: OTLP/HTTP protobuf batches into a real `tokentrace serve`, end to end,
and (with --against-jaeger) into the Jaeger v2 binary on the same batches in the same run.

Starts `tokentrace serve` on free loopback ports with a temporary DuckDB file, generates
realistic export requests of 1,000 spans up front (a gateway → orders → database trace
shape, token ids, a few attributes, some exception events), sends them from K concurrent
connections, and prints:

- acknowledged spans/s (every 200 means the batch is durable: in the ingest journal, or
  committed to DuckDB without it),
- with --against-jaeger, Jaeger's acknowledged spans/s for the same batches (its memory
  store, not durable: it answers once the spans are in its pipeline) and the ratio,
- bytes on disk per span (after a checkpoint),
- peak resident memory of the server process,
- the pure protobuf parse rate of the same batches in this process, and ingest/parse,
- the two span decoders (Python and native) on the same batches in this process, and
  their ratio,
- how long the first API query takes after the run, and how long after the run the
  answers hold every span it wrote (the derived tables are refreshed in the background;
  see docs/backend.md#freshness).

A short run counts as much as a long one: the first seconds of a fresh server are what a
user meets first.

    .venv/bin/python benchmarks/ingest_throughput.py            # 120 batches, 4 connections
    .venv/bin/python benchmarks/ingest_throughput.py --batches 1500 --connections 6
    .venv/bin/python benchmarks/ingest_throughput.py --against-jaeger --repeat 3
    .venv/bin/python benchmarks/ingest_throughput.py --decoder python       # the fallback
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from pathlib import Path

import duckdb
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otlp_load import (
    RssSampler,
    Server,
    jaeger_server,
    make_batches,
    probe_request,
    send_all,
    spans_in,
    tokentrace_env,
    tokentrace_server,
    tree_cpu_seconds,
    tree_rss_kib,
)


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


def measure(server: Server, batches: list[bytes], connections: int) -> dict[str, float]:
    """Send every batch to ``server``; the rate, retries, CPU and memory it took."""
    sampler = RssSampler(server.pid)
    sampler.start()
    cpu_before = tree_cpu_seconds(server.pid)
    client_before = time.process_time()
    started = time.perf_counter()
    acknowledged, retries = asyncio.run(send_all(server.traces_url, batches, connections))
    elapsed = time.perf_counter() - started
    figures = {
        "acknowledged": acknowledged,
        "retries": retries,
        "elapsed": elapsed,
        "server_cpu": tree_cpu_seconds(server.pid) - cpu_before,
        "client_cpu": time.process_time() - client_before,
        "peak_kib": max(sampler.peak_kib, tree_rss_kib(server.pid)),
    }
    if server.api_url is not None:
        query_started = time.perf_counter()
        httpx.get(f"{server.api_url}/api/tokens?limit=5", timeout=600)
        figures["first_query"] = time.perf_counter() - query_started
        figures["caught_up"] = caught_up_seconds(server, started=query_started)
    sampler.stop.set()
    sampler.join()
    figures["catch_up_peak_kib"] = max(sampler.peak_kib, tree_rss_kib(server.pid))
    return figures


def caught_up_seconds(server: Server, *, started: float) -> float:
    """Seconds from ``started`` (the end of the run) until the answers hold every span the
    run wrote: a probe span of a fresh token is sent last, and the derived tables are
    refreshed in batch order, so once the probe is counted everything before it is too."""
    assert server.api_url is not None
    token_id = random.randbytes(16).hex()
    httpx.post(
        server.traces_url,
        content=probe_request(token_id),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=60,
    ).raise_for_status()
    while time.perf_counter() - started < 600:
        answer = httpx.get(f"{server.api_url}/api/tokens/{token_id}", params={"since": "1h"})
        if answer.status_code == 200 and answer.json()["requests"] >= 1:
            return time.perf_counter() - started
        time.sleep(0.02)
    raise SystemExit("the probe span was not counted within 10 minutes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=120)
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
    parser.add_argument(
        "--against-jaeger",
        action="store_true",
        help="also send the same batches to the Jaeger binary (collector/build.sh)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs (each on a fresh server), alternating"
    )
    arguments = parser.parse_args()

    batches = make_batches(arguments.batches)
    total_spans = sum(spans_in(body) for body in batches)
    baseline = parse_rate(batches)
    decoders = decoder_rates(batches[:50])
    decoder_figures = ", ".join(f"{name} {micros:.2f} us/span" for name, micros in decoders.items())
    ratio = (
        f"; python/native = {decoders['python'] / decoders['native']:.1f}x"
        if "native" in decoders
        else ""
    )
    print(f"{len(batches)} requests, {total_spans:,} spans, {arguments.connections} connections")
    print(f"parse baseline: {baseline:,.0f} spans/s in this process")
    print(f"span decoders in this process: {decoder_figures}{ratio}")
    for run in range(1, arguments.repeat + 1):
        rate = _tokentrace_run(arguments, batches, total_spans, baseline, run)
        if arguments.against_jaeger:
            with jaeger_server() as jaeger:
                figures = measure(jaeger, batches, arguments.connections)
            jaeger_rate = total_spans / figures["elapsed"]
            print(
                f"run {run} jaeger: {jaeger_rate:,.0f} spans/s acknowledged (memory store), "
                f"{figures['retries']:.0f} retries, {figures['elapsed']:.2f} s, "
                f"CPU {figures['server_cpu'] / total_spans * 1e6:.1f} us/span, peak RSS "
                f"{figures['peak_kib'] / 1024:.0f} MiB"
            )
            print(f"run {run} tokentrace / jaeger = {rate / jaeger_rate:.2f}")


def _tokentrace_run(
    arguments: argparse.Namespace,
    batches: list[bytes],
    total_spans: int,
    baseline: float,
    run: int,
) -> float:
    env = tokentrace_env(arguments.decoder, arguments.decode_workers)
    with tempfile.TemporaryDirectory() as workdir:
        db_path = Path(workdir) / "bench.duckdb"
        with tokentrace_server(db_path, env) as server:
            figures = measure(server, batches, arguments.connections)
        with duckdb.connect(str(db_path)) as connection:
            stored = connection.execute("SELECT count(*) FROM spans").fetchone()
            connection.execute("CHECKPOINT")
        size = db_path.stat().st_size
        wal = db_path.with_name(db_path.name + ".wal")
        size += wal.stat().st_size if wal.exists() else 0
        spans_only = _spans_table_bytes(db_path)
    acknowledged = int(figures["acknowledged"])
    if acknowledged != len(batches):
        raise SystemExit(f"only {acknowledged}/{len(batches)} batches were acknowledged")
    rate = total_spans / figures["elapsed"]
    print(
        f"run {run} tokentrace: {rate:,.0f} spans/s acknowledged (durable), "
        f"{figures['retries']:.0f} retries, {figures['elapsed']:.2f} s, "
        f"stored rows {stored[0] if stored else 0:,}; ingest/parse = {rate / baseline:.2%}"
    )
    print(f"  server: {server.ready_line.partition('(')[2].rstrip(')')}")
    print(
        f"  first API query after the run: {figures['first_query'] * 1000:.0f} ms; "
        f"answers hold every span of the run {figures['caught_up']:.2f} s after its end"
    )
    print(
        f"  disk: {size / total_spans:.1f} bytes/span for the whole file "
        f"({size / 2**20:.1f} MiB, with the derived tables); "
        f"spans + resources tables alone: {spans_only / total_spans:.1f} bytes/span"
    )
    print(
        f"  server peak RSS: {figures['peak_kib'] / 1024:.0f} MiB during ingest, "
        f"{figures['catch_up_peak_kib'] / 1024:.0f} MiB until the first query has caught up"
    )
    print(
        f"  CPU per span: server {figures['server_cpu'] / total_spans * 1e6:.1f} us, "
        f"client {figures['client_cpu'] / total_spans * 1e6:.1f} us; machine load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    return rate


def _spans_table_bytes(db_path: Path) -> int:
    """Size of a fresh, checkpointed file holding only the spans and resources tables."""
    copy = db_path.with_name("spans_only.duckdb")
    with duckdb.connect(str(copy)) as connection:
        connection.execute("ATTACH ? AS source (READ_ONLY)", [str(db_path)])
        connection.execute("CREATE TABLE spans AS SELECT * FROM source.spans")
        connection.execute("CREATE TABLE resources AS SELECT * FROM source.resources")
        connection.execute("DETACH source")
        connection.execute("CHECKPOINT")
    return copy.stat().st_size


if __name__ == "__main__":
    main()
