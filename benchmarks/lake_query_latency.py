"""Lake-mode query latency: the correlation API over a 2-node DuckLake against the embedded
DuckDB file, on the same data, and how soon a span exported to one lake node shows on the
other.

Generates a history (``scenario/history.py``: ``--tokens`` tokens over ``--days`` days,
one incident of every anomaly kind in the last hours), serializes it once
(``history.export_batches``), and posts the same export requests, oldest first, to

- a lake of two ``tokentrace serve`` nodes (``.venv-lake``: DuckDB 1.5.5 and the signed
  extensions; a throwaway PostgreSQL catalog on loopback), alternating between the nodes,
  each request after the last was acknowledged;
- one embedded ``tokentrace serve --db`` of the main venv (DuckDB 2.0.1).

Then waits until every node's token list counts every request sent (the derived tables
are built by the lake's leader, and read by both nodes) and the lake's findings equal the
embedded node's (or ``--settle`` seconds pass), restarts every node so that the first call
of each endpoint is a cold one (node A is started first and leads again), and times, on
the lake leader, the lake's other node and the embedded node, the first call of each
endpoint after the restart, then ``--runs`` rounds of every endpoint on every node in turn
(each round picks the same random token and trace for all three): median and p95, and
the ratios lake/embedded.

Freshness: ``--probes`` times per direction, one SERVER span of a new token is exported
to one node, and from its 200 the other node's ``GET /api/tokens?token_prefix=<id>`` is
polled every 50 ms until the token is listed (embedded: the same node).

    .venv/bin/python benchmarks/lake_query_latency.py                  # 36 tokens, 7 days
    .venv/bin/python benchmarks/lake_query_latency.py --runs 5 --probes 3 --days 2
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otlp_load import REPO, probe_request, tree_cpu_seconds
from tokentrace_backend.scenario import history as scenario_history
from tokentrace_backend.scenario.postgres import PostgresServer, find_postgres_bin
from tokentrace_backend.scenario.stack import Backend

MAIN_TOKENTRACE = REPO / ".venv" / "bin" / "tokentrace"
LAKE_TOKENTRACE = REPO / ".venv-lake" / "bin" / "tokentrace"
POLL_SECONDS = 0.05
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Target:
    """A node under test and its HTTP client."""

    label: str
    backend: Backend
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.backend.api_url, timeout=120)

    @property
    def pid(self) -> int:
        assert self.backend.process is not None
        return self.backend.process.pid

    def get(self, path: str, **params: str | int) -> Any:
        answer = self.client.get(path, params=params)
        answer.raise_for_status()
        return answer.json()

    def timed(self, path: str, **params: str | int) -> float:
        """Milliseconds for one call (keep-alive connection, body read and parsed)."""
        started = time.perf_counter()
        self.get(path, **params)
        return (time.perf_counter() - started) * 1000

    def restart(self) -> None:
        self.client.close()
        self.backend.stop()
        self.backend.start(timeout=180)
        self.client = httpx.Client(base_url=self.backend.api_url, timeout=120)


def post_all(
    bodies: list[tuple[bytes, int]], traces_urls: list[str], done: dict[str, float]
) -> None:
    """POST every body, in order, to the urls in turn (each after the last's 200)."""
    started = time.perf_counter()
    with httpx.Client(timeout=300) as client:
        for number, (body, _) in enumerate(bodies):
            url = traces_urls[number % len(traces_urls)]
            client.post(url, content=body, headers=PROTOBUF).raise_for_status()
    done[" + ".join(traces_urls)] = time.perf_counter() - started


def catalog_counters(postgres: PostgresServer) -> dict[str, int]:
    """The catalog database's transactions, tuples returned and blocks hit so far."""
    with psycopg.connect(postgres.url("postgres"), autocommit=True) as connection:
        row = connection.execute(
            "SELECT xact_commit + xact_rollback, tup_returned, blks_hit "
            "FROM pg_stat_database WHERE datname = 'lake_query'"
        ).fetchone()
    assert row is not None
    return dict(zip(("xact_commit", "tup_returned", "blks_hit"), map(int, row), strict=True))


def counted_requests(target: Target, window: dict[str, str]) -> int:
    page = target.get("/api/tokens", **window, limit=1000)
    return sum(int(token["requests"]) for token in page["tokens"])


def all_counted(target: Target, window: dict[str, str], expected: int) -> Callable[[], bool]:
    return lambda: counted_requests(target, window) == expected


def findings(target: Target, window: dict[str, str]) -> int:
    return len(target.get("/api/anomalies", **window, limit=1000)["findings"])


def wait_until(check: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until ``check`` passed, or None after ``timeout``."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if check():
            return time.perf_counter() - started
        time.sleep(0.25)
    return None


def trace_ids(bodies: list[tuple[bytes, int]], rng: random.Random, count: int) -> list[str]:
    """``count`` trace ids of the history, from random export requests."""
    found: set[str] = set()
    for body, _ in rng.sample(bodies, min(len(bodies), 5)):
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                found.update(span.trace_id.hex() for span in scope_spans.spans)
    return rng.sample(sorted(found), min(count, len(found)))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def freshness(source: Target, reader: Target, probes: int) -> list[float]:
    """Seconds from the 200 of a probe exported to ``source`` until ``reader`` lists it."""
    lags = []
    traces_url = f"{source.backend.otlp_url}/v1/traces"
    with httpx.Client(timeout=60) as exporter:
        for _ in range(probes):
            token_id = random.randbytes(16).hex()
            exporter.post(
                traces_url, content=probe_request(token_id), headers=PROTOBUF
            ).raise_for_status()
            acknowledged = time.perf_counter()
            while time.perf_counter() - acknowledged < 120:
                page = reader.get("/api/tokens", since="1h", token_prefix=token_id, limit=10)
                if page["tokens"]:
                    lags.append(time.perf_counter() - acknowledged)
                    break
                time.sleep(POLL_SECONDS)
            else:
                lags.append(float("inf"))
    return lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=36)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--rate-scale", type=float, default=1.0, help="history.generate's")
    parser.add_argument("--runs", type=int, default=20, help="warm calls per endpoint and node")
    parser.add_argument("--probes", type=int, default=10, help="freshness probes per direction")
    parser.add_argument("--settle", type=float, default=120.0, help="max wait for the findings")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    print(
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"load average {load_average()}"
    )
    started = time.perf_counter()
    history = scenario_history.generate(
        now_ns=time.time_ns(), tokens=args.tokens, days=args.days, rate_scale=args.rate_scale
    )
    bodies = list(scenario_history.export_batches(history))
    expected = len(history.traffic.requests)
    print(
        f"history: {args.tokens} tokens over {args.days:g} days, {history.spans:,} spans "
        f"({expected:,} requests, {len(history.incidents)} incidents) in {len(bodies)} export "
        f"requests of up to {scenario_history.PER_EXPORT:,} requests each, serialized in "
        f"{time.perf_counter() - started:.1f} s"
    )
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        raise SystemExit("no PostgreSQL server binaries (apt-get install postgresql)")
    # The whole history, and a day past its end: some incidents run up to now, so a window
    # ending at the time of the call would count more and more of them as time passes.
    window = {
        "since": datetime.fromtimestamp(history.start_ns / 1e9 - 3600, UTC).isoformat(),
        "until": datetime.fromtimestamp(history.end_ns / 1e9 + 86400, UTC).isoformat(),
    }
    with ExitStack() as cleanup, tempfile.TemporaryDirectory(prefix="lake-query-") as scratch:
        work = Path(scratch)
        postgres = PostgresServer(bin_dir).start()
        cleanup.callback(postgres.stop)
        catalog = postgres.create_database("lake_query")
        lake_args = ["--catalog", catalog, "--data-path", str(work / "lake-data")]

        def node(name: str, command: Path, extra: list[str]) -> Backend:
            (work / name).mkdir()
            backend = Backend(
                db_path=work / name / "tokentrace.duckdb",
                log_dir=work,
                name=name,
                args=extra,
                command=[str(command)],
            )
            cleanup.callback(backend.stop)
            return backend.start(timeout=180)

        leader = Target("lake A (leader)", node("lakeA", LAKE_TOKENTRACE, lake_args))
        other = Target("lake B", node("lakeB", LAKE_TOKENTRACE, lake_args))
        pinned = Target("embedded 1.5.5", node("embedded155", LAKE_TOKENTRACE, []))
        embedded = Target("embedded 2.0.1", node("embedded", MAIN_TOKENTRACE, []))
        targets = [leader, other, pinned, embedded]  # the last is the baseline
        for target in targets:
            cleanup.callback(target.client.close)

        load_seconds: dict[str, float] = {}
        lake_urls = [f"{t.backend.otlp_url}/v1/traces" for t in (leader, other)]
        loaders = [
            threading.Thread(target=post_all, args=(bodies, lake_urls, load_seconds)),
            *(
                threading.Thread(
                    target=post_all,
                    args=(bodies, [f"{t.backend.otlp_url}/v1/traces"], load_seconds),
                )
                for t in (pinned, embedded)
            ),
        ]
        load_started = time.perf_counter()
        for loader in loaders:
            loader.start()
        for loader in loaders:
            loader.join()
        lake_load = load_seconds[" + ".join(lake_urls)]
        embedded_loads = ", ".join(
            f"{t.label} {load_seconds[f'{t.backend.otlp_url}/v1/traces']:.1f} s = "
            f"{history.spans / load_seconds[f'{t.backend.otlp_url}/v1/traces']:,.0f} spans/s"
            for t in (pinned, embedded)
        )
        print(
            f"loaded at the same time, one request at a time each: lake (alternating A/B) "
            f"{lake_load:.1f} s = {history.spans / lake_load:,.0f} spans/s, {embedded_loads}"
        )
        caught_up: dict[str, float] = {}
        deadline = time.perf_counter() + args.settle + 60
        while len(caught_up) < len(targets) and time.perf_counter() < deadline:
            for target in targets:
                if target.label not in caught_up and all_counted(target, window, expected)():
                    caught_up[target.label] = time.perf_counter() - load_started
            time.sleep(0.25)
        for target in targets:
            counted = counted_requests(target, window)
            shown = f"{caught_up[target.label]:.1f} s" if target.label in caught_up else "never"
            print(
                f"  {target.label}: counts {counted:,} of {expected:,} requests "
                f"(all counted {shown} after the load began)"
            )
        settled = wait_until(
            lambda: (
                findings(leader, window) == findings(embedded, window)
                and findings(other, window) == findings(embedded, window)
            ),
            args.settle,
        )
        print(
            "  findings: "
            + ", ".join(f"{t.label} {findings(t, window)}" for t in targets)
            + ("" if settled is not None else f" (not equal after {args.settle:g} s)")
        )

        idle_before = {t.label: tree_cpu_seconds(t.pid) for t in targets}
        idle_catalog = catalog_counters(postgres)
        time.sleep(10)
        idle_rate = {
            name: (value - idle_catalog[name]) / 10
            for name, value in catalog_counters(postgres).items()
        }
        print(
            "  CPU of each node over 10 s with nothing to do: "
            + ", ".join(
                f"{t.label} {(tree_cpu_seconds(t.pid) - idle_before[t.label]) / 10:.2f} cores"
                for t in targets
            )
            + f"; catalog meanwhile: {idle_rate['xact_commit']:.0f} transactions/s, "
            f"{idle_rate['tup_returned']:,.0f} tuples returned/s"
        )
        data_files = sum(1 for _ in (work / "lake-data").rglob("*.parquet"))
        print(f"  the lake's data directory holds {data_files} Parquet files")
        rng = random.Random(args.seed)
        listed = leader.get("/api/tokens", **window, limit=1000)["tokens"]
        tokens = [str(token["token_id"]) for token in listed]
        traces = trace_ids(bodies, rng, 50)
        # Cold: the first call of each endpoint after a restart (A first, so it leads).
        for target in targets:
            target.backend.stop()
        for target in targets:
            target.restart()
        print(
            f"after the restart: {len(tokens)} tokens listed, load average {load_average()}; "
            f"{args.runs} warm rounds, every endpoint on every node in turn"
        )
        endpoints: list[tuple[str, Callable[[str, str], tuple[str, dict[str, str | int]]]]] = [
            ("GET /api/tokens", lambda tok, tr: ("/api/tokens", {**window, "limit": 100})),
            ("GET /api/tokens/{id}", lambda tok, tr: (f"/api/tokens/{tok}", dict(window))),
            (
                "GET /api/tokens/{id}/dependencies",
                lambda tok, tr: (f"/api/tokens/{tok}/dependencies", dict(window)),
            ),
            ("GET /api/traces/{id}", lambda tok, tr: (f"/api/traces/{tr}", {})),
            ("GET /api/anomalies", lambda tok, tr: ("/api/anomalies", dict(window))),
        ]
        cold: dict[tuple[str, str], float] = {}
        cpu_before = {t.label: tree_cpu_seconds(t.pid) for t in targets}
        catalog_before = catalog_counters(postgres)
        calls_started = time.perf_counter()
        for target in targets:
            for name, make in endpoints:
                path, params = make(tokens[0], traces[0])
                cold[name, target.label] = target.timed(path, **params)
        warm: dict[tuple[str, str], list[float]] = {key: [] for key in cold}
        for _ in range(args.runs):
            token, trace = rng.choice(tokens), rng.choice(traces)
            for name, make in endpoints:
                path, params = make(token, trace)
                for target in targets:
                    warm[name, target.label].append(target.timed(path, **params))
        cpu = {t.label: tree_cpu_seconds(t.pid) - cpu_before[t.label] for t in targets}
        calls_seconds = time.perf_counter() - calls_started
        time.sleep(1.5)  # the catalog backends flush their counters at most once a second
        catalog_after = catalog_counters(postgres)
        lake_calls = 2 * len(endpoints) * (args.runs + 1)
        per_call = {
            name: (
                catalog_after[name] - catalog_before[name] - idle_rate[name] * (calls_seconds + 1.5)
            )
            / lake_calls
            for name in catalog_after
        }
        print_table(endpoints, targets, cold, warm)
        print(
            "server CPU seconds over the timed calls: "
            + ", ".join(f"{label} {seconds:.1f}" for label, seconds in cpu.items())
            + f"; load average {load_average()}"
        )
        print(
            f"catalog load per lake API call (less the idle rate): "
            f"{per_call['xact_commit']:.1f} transactions, "
            f"{per_call['tup_returned']:,.0f} tuples returned, "
            f"{per_call['blks_hit']:,.0f} blocks hit"
        )

        print(f"freshness ({args.probes} probes each way; 200 on one node -> listed on another):")
        for source, reader in ((leader, other), (other, leader), (embedded, embedded)):
            lags = freshness(source, reader, args.probes)
            print(
                f"  {source.label} -> {reader.label}: median {statistics.median(lags):.2f} s, "
                f"p95 {percentile(lags, 0.95):.2f} s, max {max(lags):.2f} s"
            )
        print(f"load average at the end {load_average()}")


def print_table(
    endpoints: list[tuple[str, Any]],
    targets: list[Target],
    cold: dict[tuple[str, str], float],
    warm: dict[tuple[str, str], list[float]],
) -> None:
    embedded = targets[-1].label
    print(
        f"{'endpoint':<34} {'node':<16} {'cold ms':>9} {'median ms':>10} {'p95 ms':>9}"
        f"   {'/ embedded 2.0.1: cold':>22} {'median':>7} {'p95':>6}"
    )
    for name, _ in endpoints:
        base = warm[name, embedded]
        for target in targets:
            samples = warm[name, target.label]
            ratios = ""
            if target.label != embedded:
                ratios = (
                    f"   {cold[name, target.label] / cold[name, embedded]:>22.2f} "
                    f"{statistics.median(samples) / statistics.median(base):>7.2f} "
                    f"{percentile(samples, 0.95) / percentile(base, 0.95):>6.2f}"
                )
            print(
                f"{name:<34} {target.label:<16} {cold[name, target.label]:>9.1f} "
                f"{statistics.median(samples):>10.1f} {percentile(samples, 0.95):>9.1f}{ratios}"
            )


if __name__ == "__main__":
    main()
