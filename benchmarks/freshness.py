"""Freshness under sustained load: a steady rate of OTLP into a real `tokentrace serve`,
and how soon an acknowledged span shows in the API.

Feeds export requests of ~1,000 spans at a fixed rate (open loop: a slow server makes the
achieved rate fall, it does not slow the schedule) over K connections, and meanwhile:

- every --probe-interval, sends a probe: one request span of a token seen nowhere else;
  once it is acknowledged, polls `GET /api/tokens/{probe}` until the token is there with
  its request. The freshness lag is acknowledged -> counted (polls every 50 ms, one at a
  time, oldest probe first);
- every --query-interval, asks `GET /api/tokens/{id}` (the token summary) of a random
  token of the load and times the answer.

Prints the requested and achieved rates, lag p50/p99/max, query latency p50/p99, the
server's CPU per span and its peak resident memory.

    .venv/bin/python benchmarks/freshness.py                      # 80 k spans/s for 5 minutes
    .venv/bin/python benchmarks/freshness.py --rate 40000 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from otlp_load import (
    FreshCopies,
    RssSampler,
    Server,
    load_tokens,
    make_batches,
    post,
    probe_request,
    tokentrace_server,
    tree_cpu_seconds,
    tree_rss_kib,
)

POLL_SECONDS = 0.05


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Run:
    """One sustained run against ``server``."""

    def __init__(self, server: Server, copies: FreshCopies, args: argparse.Namespace) -> None:
        self.server = server
        self.copies = copies
        self.args = args
        self.tokens = load_tokens()
        self.acknowledged_spans = 0
        self.load_seconds = 0.0
        self.retries = 0
        self.backlog_max = 0
        self.probes: list[tuple[str, float]] = []  # (token id, acknowledged at)
        self.lags: list[float] = []
        self.query_ms: list[float] = []
        self.finished = asyncio.Event()

    async def load(self) -> None:
        """Schedule a request every spans_per_copy / rate seconds; K workers send them."""
        interval = self.copies.spans_per_copy() / self.args.rate
        due: asyncio.Queue[None] = asyncio.Queue()
        started = time.monotonic()

        async def schedule() -> None:
            number = 0
            while True:
                wait = started + number * interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if time.monotonic() - started >= self.args.duration:
                    return
                due.put_nowait(None)
                self.backlog_max = max(self.backlog_max, due.qsize())
                number += 1

        async def worker() -> None:
            reader, writer = await asyncio.open_connection(*_host_port(self.server.traces_url))
            try:
                while True:
                    await due.get()
                    body, spans = self.copies.next()
                    self.retries += await post(reader, writer, self.server.traces_url, body)
                    self.acknowledged_spans += spans
                    due.task_done()
            finally:
                writer.close()

        workers = [asyncio.create_task(worker()) for _ in range(self.args.connections)]
        await schedule()
        await due.join()  # what was scheduled in time is still sent, late
        self.load_seconds = time.monotonic() - started
        for task in workers:
            task.cancel()
        self.finished.set()

    async def probe(self) -> None:
        reader, writer = await asyncio.open_connection(*_host_port(self.server.traces_url))
        try:
            while not self.finished.is_set():
                token_id = random.randbytes(16).hex()
                await post(reader, writer, self.server.traces_url, probe_request(token_id))
                self.probes.append((token_id, time.monotonic()))
                await asyncio.sleep(self.args.probe_interval)
        finally:
            writer.close()

    async def poll(self, client: httpx.AsyncClient) -> None:
        """Find each probe in the API, oldest first; a probe unseen at the end is reported."""
        seen = 0
        while not self.finished.is_set() or seen < len(self.probes):
            if seen >= len(self.probes):
                await asyncio.sleep(POLL_SECONDS)
                continue
            token_id, acknowledged = self.probes[seen]
            answer = await client.get(f"/api/tokens/{token_id}", params={"since": "1h"})
            if answer.status_code == 200 and answer.json()["requests"] >= 1:
                self.lags.append(time.monotonic() - acknowledged)
                seen += 1
            elif self.finished.is_set() and time.monotonic() - acknowledged > 60:
                return  # never arrived: counted as unseen
            else:
                await asyncio.sleep(POLL_SECONDS)

    async def query(self, client: httpx.AsyncClient) -> None:
        while not self.finished.is_set():
            token_id = random.choice(self.tokens)
            started = time.perf_counter()
            answer = await client.get(f"/api/tokens/{token_id}")
            if answer.status_code in (200, 404):
                self.query_ms.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(self.args.query_interval)

    async def run(self) -> float:
        assert self.server.api_url is not None
        async with httpx.AsyncClient(base_url=self.server.api_url, timeout=120) as client:
            started = time.monotonic()
            tasks = [self.load(), self.probe(), self.poll(client), self.query(client)]
            loaded = asyncio.gather(*tasks)
            await loaded
            return time.monotonic() - started


def _host_port(url: str) -> tuple[str, int]:
    parsed = httpx.URL(url)
    return parsed.host, parsed.port or 80


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=80_000, help="spans/s (default 80,000)")
    parser.add_argument("--duration", type=float, default=300, help="seconds (default 300)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--templates", type=int, default=20, help="distinct requests re-sent")
    parser.add_argument("--probe-interval", type=float, default=0.5)
    parser.add_argument("--query-interval", type=float, default=0.5)
    args = parser.parse_args()

    copies = FreshCopies(make_batches(args.templates))
    with (
        tempfile.TemporaryDirectory() as workdir,
        tokentrace_server(Path(workdir) / "fresh.duckdb") as server,
    ):
        sampler = RssSampler(server.pid)
        sampler.start()
        cpu_before = tree_cpu_seconds(server.pid)
        run = Run(server, copies, args)
        asyncio.run(run.run())
        cpu = tree_cpu_seconds(server.pid) - cpu_before
        sampler.stop.set()
        sampler.join()
        peak_kib = max(sampler.peak_kib, tree_rss_kib(server.pid))

    achieved = run.acknowledged_spans / run.load_seconds
    print(f"server: {server.ready_line.partition('(')[2].rstrip(')')}")
    print(
        f"rate: requested {args.rate:,.0f} spans/s for {args.duration:.0f} s, achieved "
        f"{achieved:,.0f} spans/s ({achieved / args.rate:.1%}): the last request scheduled "
        f"was acknowledged after {run.load_seconds:.1f} s; {run.retries} 503 retries; "
        f"up to {run.backlog_max} requests waiting for a connection"
    )
    unseen = len(run.probes) - len(run.lags)
    print(
        "freshness lag (acknowledged -> in /api/tokens/{id}): "
        f"p50 {percentile(run.lags, 0.5):.2f} s  p99 {percentile(run.lags, 0.99):.2f} s  "
        f"max {max(run.lags, default=float('nan')):.2f} s"
        f"  over {len(run.lags)} probes ({unseen} never seen)"
    )
    print(
        f"token summary during the run: p50 {percentile(run.query_ms, 0.5):.0f} ms  "
        f"p99 {percentile(run.query_ms, 0.99):.0f} ms  over {len(run.query_ms)} queries "
        f"(median {statistics.median(run.query_ms) if run.query_ms else float('nan'):.0f} ms)"
    )
    print(
        f"server: {cpu / max(run.acknowledged_spans, 1) * 1e6:.1f} us CPU per span, "
        f"peak RSS {peak_kib / 1024:.0f} MiB; machine load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
