"""Lake-mode ingest: acknowledged spans/s of 1, 2 and 3 ``tokentrace serve`` nodes sharing one
DuckLake (Parquet files + a PostgreSQL catalog), against the embedded DuckDB file in the
same run, and what the lake costs per span and per commit.

Starts one throwaway PostgreSQL server on loopback (``scenario/postgres.py``). Each
configuration gets a fresh catalog database and data directory (lake) or a fresh file
(embedded), and one load client *process* per node, all sending at once. A client builds
its export requests before the clock starts (``otlp_load.make_batches``: 1,000 spans per
request, traces of 4 spans over 2 services; ``FreshCopies`` gives each copy its own trace
ids; a pool of ``--pool`` copies is cycled), then posts them back to back over
``--connections`` keep-alive connections (``otlp_load.post``: a 429/503 is retried after a
tenth of its Retry-After). A request counts once its 200 came back: for a lake node that is
after its DuckLake commit; for the embedded file, after its ingest journal's fsync (the
default) or, with the journal off, after the DuckDB commit.

The first ``--cold`` seconds of a fresh configuration are reported apart (what a new
cluster does first), then ``--seconds`` of sustained load. For each window it prints the
rate, the share of the machine's CPU in use and the CPU seconds of every process (each
node with its decode workers, PostgreSQL with all its backends, the clients), and for the
lake how much of the time the ``batches`` advisory lock (held from drawing a batch number
to the commit, ``storage/lake/locks.py``) was held and how many nodes were waiting for it
(pg_locks sampled every 20 ms from the ``postgres`` database, so the sampler adds nothing to
the catalog's counters).

After the run: spans stored, bytes per span in the data directory (before and after a
DuckLake CHECKPOINT run by a separate DuckDB 1.5.5 process once the nodes stopped), bytes
per span of the spans table's live files, the catalog database's size per million spans,
and the catalog load per span commit (``pg_stat_database`` deltas of the catalog
database, WAL records/bytes and buffers written of the whole server, divided by the batch
numbers drawn from the ``tokentrace_batch_ids`` sequence). The "after" counters are read
once the nodes have stopped, since PostgreSQL backends flush their counters at exit.

Each lake configuration is compared with the embedded one that acknowledges the same way
(after the commit, no journal) with the same span decoder: ``lake*`` decode in Python,
``lake*-native`` with the compiled decoder (``scripts/test`` installs it in ``.venv-lake``
too); ``emb-native`` is the README's configuration (journal on).

    .venv/bin/python benchmarks/lake_ingest.py                      # 3 s cold + 20 s each
    .venv/bin/python benchmarks/lake_ingest.py --seconds 5 --cold 2 --configs lake1,lake2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import psycopg

from otlp_load import REPO, FreshCopies, make_batches, post, tree_cpu_seconds, tree_rss_kib
from tokentrace_backend.scenario.postgres import PostgresServer, find_postgres_bin
from tokentrace_backend.scenario.stack import Backend
from tokentrace_backend.storage.lake.locks import BATCH_SEQUENCE, LOCK_KEYS, NAMESPACE

MAIN_VENV = REPO / ".venv"
LAKE_VENV = REPO / ".venv-lake"
SAMPLE_SECONDS = 0.02

# --- configurations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One thing measured: ``nodes`` lake nodes, or (nodes == 0) one embedded file."""

    name: str
    label: str
    venv: Path
    nodes: int = 0
    decoder: str = "python"
    journal: bool = True

    @property
    def lake(self) -> bool:
        return self.nodes > 0

    @property
    def processes(self) -> int:
        return max(self.nodes, 1)


CONFIGS = {
    config.name: config
    for config in (
        Config("emb-native", "embedded 2.0.1, native decoder, journal", MAIN_VENV, decoder="auto"),
        Config("emb", "embedded 2.0.1, python decoder, journal", MAIN_VENV),
        Config("emb155", "embedded 1.5.5, python decoder, journal", LAKE_VENV),
        Config("emb-nojournal", "embedded 2.0.1, python, ack on commit", MAIN_VENV, journal=False),
        Config(
            "emb155-nojournal", "embedded 1.5.5, python, ack on commit", LAKE_VENV, journal=False
        ),
        Config("lake1", "lake, 1 node (1.5.5, python)", LAKE_VENV, nodes=1),
        Config("lake2", "lake, 2 nodes (1.5.5, python)", LAKE_VENV, nodes=2),
        Config("lake3", "lake, 3 nodes (1.5.5, python)", LAKE_VENV, nodes=3),
        Config(
            "emb-native-nojournal",
            "embedded 2.0.1, native, ack on commit",
            MAIN_VENV,
            decoder="auto",
            journal=False,
        ),
        Config("lake1-native", "lake, 1 node (1.5.5, native)", LAKE_VENV, nodes=1, decoder="auto"),
        Config("lake2-native", "lake, 2 nodes (1.5.5, native)", LAKE_VENV, nodes=2, decoder="auto"),
        Config("lake3-native", "lake, 3 nodes (1.5.5, native)", LAKE_VENV, nodes=3, decoder="auto"),
    )
}
# Which embedded configuration each one is compared with (same decoder, same process).
BASELINES = {
    "emb155": "emb",
    "emb-nojournal": "emb",
    "emb155-nojournal": "emb-nojournal",
    "lake1": "emb-nojournal",
    "lake2": "emb-nojournal",
    "lake3": "emb-nojournal",
    "lake1-native": "emb-native-nojournal",
    "lake2-native": "emb-native-nojournal",
    "lake3-native": "emb-native-nojournal",
}


# --- the load clients (one process per node) ------------------------------------------------


def client_main(
    index: int, traces_url: str, pool: int, connections: int, channel: Connection
) -> None:
    """Build the pool, say so, wait for (start, end), send until end, report the acks."""
    templates = make_batches(8, seed=100 + index)
    copies = FreshCopies(templates)
    copies._copies = index * 10_000_000  # trace ids of each client's copies stay apart
    bodies = [copies.next() for _ in range(pool)]
    channel.send("ready")
    start, end = channel.recv()
    cpu_before = time.process_time()
    acks, retries = asyncio.run(_drive(traces_url, bodies, connections, start, end))
    channel.send({"acks": acks, "retries": retries, "cpu": time.process_time() - cpu_before})


async def _drive(
    url: str, bodies: list[tuple[bytes, int]], connections: int, start: float, end: float
) -> tuple[list[tuple[float, int]], int]:
    host, _, port = url.split("//", 1)[1].split("/", 1)[0].partition(":")
    acks: list[tuple[float, int]] = []
    retries = 0
    sent = 0

    async def worker() -> None:
        nonlocal retries, sent
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            await asyncio.sleep(max(0.0, start - time.monotonic()))
            while time.monotonic() < end:
                body, spans = bodies[sent % len(bodies)]
                sent += 1
                retries += await post(reader, writer, url, body)
                acks.append((time.monotonic(), spans))
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return acks, retries


# --- readings --------------------------------------------------------------------------------


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs (/proc/stat; idle and iowait are not busy)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields[:8])
    return total - fields[3] - fields[4], total


@dataclass
class CpuReading:
    at: float
    machine: tuple[int, int]
    processes: dict[str, float]


def read_cpu(pids: dict[str, int]) -> CpuReading:
    return CpuReading(
        time.monotonic(),
        machine_ticks(),
        {name: tree_cpu_seconds(pid) for name, pid in pids.items()},
    )


def postmaster_pid(server: PostgresServer) -> int:
    return int((server.data / "postmaster.pid").read_text().split("\n", 1)[0])


class LockSampler(threading.Thread):
    """Samples, every SAMPLE_SECONDS, whether some session holds the lake's ``batches``
    advisory lock and how many wait for it (from the ``postgres`` database: pg_locks is
    cluster-wide)."""

    def __init__(self, server: PostgresServer, database: str) -> None:
        super().__init__(daemon=True)
        self._connection = psycopg.connect(server.url("postgres"), autocommit=True)
        row = self._connection.execute(
            "SELECT oid FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        assert row is not None
        self._database_oid = row[0]
        self.samples: list[tuple[float, bool, int]] = []  # (at, held, waiting)
        self.stop = threading.Event()

    def run(self) -> None:
        query = (
            "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted) "
            "FROM pg_locks WHERE locktype = 'advisory' AND database = %s "
            "AND classid = %s AND objid = %s AND objsubid = 2"
        )
        try:
            while not self.stop.wait(SAMPLE_SECONDS):
                row = self._connection.execute(
                    query, (self._database_oid, NAMESPACE, LOCK_KEYS["batches"])
                ).fetchone()
                assert row is not None
                self.samples.append((time.monotonic(), int(row[0]) > 0, int(row[1])))
        finally:
            self._connection.close()

    def between(self, start: float, end: float) -> tuple[float, float]:
        """(fraction of samples with the lock held, mean number of waiters)."""
        chosen = [(held, waiting) for at, held, waiting in self.samples if start <= at < end]
        if not chosen:
            return float("nan"), float("nan")
        return (
            sum(held for held, _ in chosen) / len(chosen),
            statistics.fmean(waiting for _, waiting in chosen),
        )


CATALOG_COUNTERS = (
    "xact_commit",
    "xact_rollback",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
    "tup_returned",
    "blks_read",
    "blks_hit",
)


def catalog_counters(server: PostgresServer, database: str) -> dict[str, int]:
    """The catalog database's pg_stat_database counters, the server's WAL and buffers
    written, and (if the sequence exists) the batch numbers drawn so far."""
    with psycopg.connect(server.url("postgres"), autocommit=True) as connection:
        connection.execute("SELECT pg_stat_clear_snapshot()")
        row = connection.execute(
            f"SELECT {', '.join(CATALOG_COUNTERS)} FROM pg_stat_database WHERE datname = %s",
            (database,),
        ).fetchone()
        assert row is not None
        counters = {name: int(value) for name, value in zip(CATALOG_COUNTERS, row, strict=True)}
        wal = connection.execute("SELECT wal_records, wal_bytes FROM pg_stat_wal").fetchone()
        assert wal is not None
        counters["wal_records"], counters["wal_bytes"] = int(wal[0]), int(wal[1])
        written = connection.execute(
            "SELECT buffers_checkpoint + buffers_clean + buffers_backend FROM pg_stat_bgwriter"
        ).fetchone()
        assert written is not None
        counters["buffers_written"] = int(written[0])
    counters.update(catalog_state(server, database))
    return counters


def catalog_state(server: PostgresServer, database: str) -> dict[str, int]:
    """Batch numbers drawn, DuckLake snapshots, and the catalog database's size."""
    with psycopg.connect(server.url(database), autocommit=True) as connection:
        state = {}
        size = connection.execute("SELECT pg_database_size(current_database())").fetchone()
        assert size is not None
        state["database_bytes"] = int(size[0])
        for name, query in (
            (
                "batch_ids",
                f"SELECT last_value - CASE WHEN is_called THEN 0 ELSE 1 END FROM {BATCH_SEQUENCE}",
            ),
            ("snapshots", "SELECT count(*) FROM ducklake_snapshot"),
        ):
            try:
                row = connection.execute(query).fetchone()
                state[name] = int(row[0]) if row else 0
            except psycopg.Error:
                connection.rollback()
                state[name] = 0
    return state


# Run by the lake venv's Python once the nodes have stopped: spans stored, the data
# directory's size, the spans table's live files, then the same after a CHECKPOINT.
LAKE_INSPECTION = """
import json, os, sys, time
import duckdb
from tokentrace_backend.storage.lake.extensions import CONNECTION_CONFIG, load_extensions

catalog, data = sys.argv[1], sys.argv[2]

def du():
    total = files = 0
    for root, _, names in os.walk(data):
        for name in names:
            total += os.path.getsize(os.path.join(root, name))
            files += name.endswith(".parquet")
    return total, files

def spans_files(connection):
    try:
        row = connection.execute(
            "SELECT file_count, file_size_bytes FROM ducklake_table_info('lake') "
            "WHERE table_name = 'spans'"
        ).fetchone()
        return [int(row[0]), int(row[1])] if row else None
    except duckdb.Error as error:
        return str(error)

connection = duckdb.connect(":memory:", config=dict(CONNECTION_CONFIG))
load_extensions(connection)
connection.execute(f"ATTACH 'ducklake:postgres:{catalog}' AS lake (DATA_PATH '{data}')")
connection.execute("USE lake")
out = {"spans": connection.execute("SELECT count(*) FROM spans").fetchone()[0]}
out["per_batch"] = connection.execute(
    "SELECT count(*), avg(n), max(n) FROM (SELECT count(*) AS n FROM spans GROUP BY batch_id)"
).fetchone()
out["before"] = [*du(), spans_files(connection)]
started = time.perf_counter()
try:
    connection.execute("CHECKPOINT")
    out["checkpoint_seconds"] = time.perf_counter() - started
except duckdb.Error as error:
    out["checkpoint_error"] = str(error)
out["after"] = [*du(), spans_files(connection)]
try:
    connection.execute("CALL ducklake_expire_snapshots('lake', older_than => now())")
    connection.execute("CALL ducklake_cleanup_old_files('lake', cleanup_all => true)")
    out["expired"] = [*du(), spans_files(connection)]
except duckdb.Error as error:
    out["expire_error"] = str(error)
print(json.dumps(out))
"""

FILE_INSPECTION = """
import json, sys
import duckdb
with duckdb.connect(sys.argv[1], read_only=True) as connection:
    print(json.dumps({"spans": connection.execute("SELECT count(*) FROM spans").fetchone()[0]}))
"""


def inspect(venv: Path, script: str, *arguments: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script, *arguments],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def directory_bytes(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


# --- one configuration ---------------------------------------------------------------------


@dataclass
class Window:
    name: str
    seconds: float
    spans: int
    requests: int
    machine_busy: float  # fraction of all cores
    cpu: dict[str, float]  # CPU seconds per process in the window
    lock_held: float = float("nan")
    lock_waiting: float = float("nan")
    batches: int = 0  # lake: batch numbers drawn in the window

    @property
    def rate(self) -> float:
        return self.spans / self.seconds


@dataclass
class Result:
    config: Config
    windows: list[Window] = field(default_factory=list)
    retries: int = 0
    client_cpu: float = 0.0
    peak_rss_mib: list[float] = field(default_factory=list)
    per_client: list[int] = field(default_factory=list)  # requests acknowledged
    lines: list[str] = field(default_factory=list)


def run_config(
    config: Config, postgres: PostgresServer | None, work: Path, args: argparse.Namespace
) -> Result:
    result = Result(config)
    logs = work / "logs"
    logs.mkdir(parents=True)
    database_name = f"lake_{config.name.replace('-', '_')}_{int(time.time())}"
    data_path = work / "lake-data"
    extra: list[str] = []
    if config.lake:
        assert postgres is not None
        catalog = postgres.create_database(database_name)
        extra = ["--catalog", catalog, "--data-path", str(data_path)]
    env = {"TOKENTRACE_DECODER": config.decoder}
    if not config.journal:
        env["TOKENTRACE_INGEST_JOURNAL"] = "false"
    nodes = [
        Backend(
            db_path=work / f"node{number}" / "tokentrace.duckdb",
            log_dir=logs,
            name=f"node{number}",
            args=extra,
            command=[str(config.venv / "bin" / "tokentrace")],
            env=env,
        )
        for number in range(config.processes)
    ]
    context = multiprocessing.get_context("spawn")
    clients: list[tuple[BaseProcess, Connection]] = []
    sampler: LockSampler | None = None
    with ExitStack() as cleanup:
        for node in nodes:
            node.db_path.parent.mkdir(parents=True)
            cleanup.callback(node.stop)
            node.start(timeout=120)  # one at a time: the first migrates the lake
        for index, node in enumerate(nodes):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=client_main,
                args=(index, f"{node.otlp_url}/v1/traces", args.pool, args.connections, theirs),
                daemon=True,
            )
            process.start()
            cleanup.callback(_end_process, process)
            clients.append((process, ours))
        for _, channel in clients:
            if not channel.poll(300):
                raise SystemExit("a load client did not get ready within 300 s")
            channel.recv()
        time.sleep(2.0)  # the nodes' start-up counters reach pg_stat_database
        before = catalog_counters(postgres, database_name) if postgres and config.lake else {}
        if config.lake and postgres is not None:
            sampler = LockSampler(postgres, database_name)
            sampler.start()
            cleanup.callback(sampler.stop.set)
        pids = {f"node{i}": node.process.pid for i, node in enumerate(nodes) if node.process}
        if config.lake and postgres is not None:
            pids["postgres"] = postmaster_pid(postgres)
        for index, (client, _) in enumerate(clients):
            assert client.pid is not None
            pids[f"client{index}"] = client.pid
        start = time.monotonic() + 0.5
        boundaries = [start, start + args.cold, start + args.cold + args.seconds]
        for _, channel in clients:
            channel.send((start, boundaries[-1]))
        readings: list[CpuReading] = []
        batch_marks: list[int] = []
        peak = [0.0] * len(nodes)
        for boundary in boundaries:
            while (left := boundary - time.monotonic()) > 0:
                time.sleep(min(left, 0.5))
                for i, node in enumerate(nodes):
                    if node.process is not None:
                        peak[i] = max(peak[i], tree_rss_kib(node.process.pid) / 1024)
            readings.append(read_cpu(pids))
            if config.lake and postgres is not None:
                batch_marks.append(catalog_state(postgres, database_name)["batch_ids"])
        acks: list[tuple[float, int]] = []
        for client, channel in clients:
            if not channel.poll(120):
                raise SystemExit("a load client did not finish within 120 s")
            report = channel.recv()
            acks.extend(report["acks"])
            result.per_client.append(len(report["acks"]))
            result.retries += report["retries"]
            result.client_cpu += report["cpu"]
            client.join(30)
        if sampler is not None:
            sampler.stop.set()
            sampler.join()
        result.peak_rss_mib = peak
        for number, name in enumerate(("cold", "sustained")):
            low, high = boundaries[number], boundaries[number + 1]
            first, last = readings[number], readings[number + 1]
            busy = (last.machine[0] - first.machine[0]) / max(last.machine[1] - first.machine[1], 1)
            chosen = [spans for at, spans in acks if low <= at < high]
            window = Window(
                name,
                high - low,
                sum(chosen),
                len(chosen),
                busy,
                {key: last.processes[key] - first.processes[key] for key in pids},
            )
            if sampler is not None:
                window.lock_held, window.lock_waiting = sampler.between(low, high)
                window.batches = batch_marks[number + 1] - batch_marks[number]
            result.windows.append(window)
        # Stop the nodes (their PostgreSQL backends flush their counters), then look.
        for node in nodes:
            node.stop()
        if config.lake and postgres is not None:
            time.sleep(1.0)
            after = catalog_counters(postgres, database_name)
            result.lines.extend(
                lake_figures(config, before, after, data_path, postgres.url(database_name))
            )
        else:
            stored = inspect(config.venv, FILE_INSPECTION, str(nodes[0].db_path))
            size = sum(
                directory_bytes(path) if path.is_dir() else path.stat().st_size
                for path in nodes[0].db_path.parent.iterdir()
                if path.name.startswith("tokentrace.duckdb")
            )
            spans = int(stored.get("spans", 0))
            result.lines.append(
                f"  stored {spans:,} spans; file + WAL + journal {size / 2**20:.1f} MiB = "
                f"{size / max(spans, 1):.1f} bytes/span (after the shutdown checkpoint)"
                + (f"; {stored['error']}" if "error" in stored else "")
            )
    return result


def _end_process(process: BaseProcess) -> None:
    if process.is_alive():
        process.terminate()
        process.join(10)


def lake_figures(
    config: Config, before: dict[str, int], after: dict[str, int], data_path: Path, catalog: str
) -> list[str]:
    lines = []
    seen = inspect(config.venv, LAKE_INSPECTION, catalog, str(data_path))
    spans = int(seen.get("spans", 0))
    if "error" in seen:
        lines.append(f"  inspection failed: {seen['error']}")
    else:
        labels = {
            "before": "before CHECKPOINT",
            "after": "after CHECKPOINT ",
            "expired": "after expiring every older snapshot and deleting unused files",
        }
        for when, label in labels.items():
            if when not in seen:
                lines.append(f"  {label}: {seen.get('expire_error')}")
                continue
            total, files, table = seen[when]
            spans_part = (
                f"; spans table {table[1] / spans:.1f} bytes/span in {table[0]} live files"
                if isinstance(table, list) and spans
                else (f"; spans table: {table}" if table else "")
            )
            lines.append(
                f"  data dir {label}: {total / 2**20:.1f} MiB in {files} Parquet files = "
                f"{total / max(spans, 1):.1f} bytes/span{spans_part}"
            )
        if "checkpoint_seconds" in seen:
            lines.append(f"  CHECKPOINT took {seen['checkpoint_seconds']:.1f} s")
        else:
            lines.append(f"  CHECKPOINT failed: {seen.get('checkpoint_error')}")
    if "per_batch" in seen:
        count, mean, largest = seen["per_batch"]
        lines.append(
            f"  in the lake: {count} distinct batch ids, {mean:,.0f} spans per batch on average, "
            f"{largest:,} at most"
        )
    batches = after["batch_ids"] - before["batch_ids"]
    snapshots = after["snapshots"] - before["snapshots"]
    lines.append(
        f"  stored {spans:,} spans; {batches:,} span commits (batch numbers drawn), "
        f"{snapshots:,} DuckLake snapshots (span commits + the leader's refresh and stages)"
    )
    if batches:
        per = {
            name: (after[name] - before[name]) / batches
            for name in (*CATALOG_COUNTERS, "wal_records", "wal_bytes", "buffers_written")
        }
        lines.append(
            "  catalog load per span commit: "
            f"{per['xact_commit']:.1f} transactions ({per['xact_rollback']:.2f} rolled back), "
            f"tuples inserted {per['tup_inserted']:.1f} / updated {per['tup_updated']:.1f} / "
            f"deleted {per['tup_deleted']:.1f}, returned {per['tup_returned']:.0f}, blocks hit "
            f"{per['blks_hit']:.0f} / read {per['blks_read']:.1f}; server-wide WAL "
            f"{per['wal_records']:.0f} records {per['wal_bytes'] / 1024:.1f} KiB, "
            f"{per['buffers_written']:.2f} buffers written"
        )
    if spans:
        lines.append(
            f"  catalog database: {after['database_bytes'] / 2**20:.1f} MiB = "
            f"{after['database_bytes'] / spans * 1e6 / 2**20:.1f} MiB per million spans "
            f"(an empty PostgreSQL database is ~7.5 MiB; grown "
            f"{(after['database_bytes'] - before['database_bytes']) / spans * 1e6 / 2**20:.1f} "
            f"MiB per million spans during the run)"
        )
    return lines


# --- printing --------------------------------------------------------------------------------


def print_result(result: Result, baseline: Result | None) -> None:
    config = result.config
    print(f"{config.name}: {config.label}")
    for window in result.windows:
        ratio = ""
        if baseline is not None:
            base = next(w for w in baseline.windows if w.name == window.name)
            ratio = f" = {window.rate / base.rate:.2f}x {baseline.config.name}"
        cpu = ", ".join(
            f"{name} {seconds / window.seconds:.2f}" for name, seconds in window.cpu.items()
        )
        ours = sum(window.cpu.values()) / window.seconds
        cpu += f"; other processes {window.machine_busy * (os.cpu_count() or 1) - ours:.2f}"
        lock = ""
        if config.lake:
            per_commit = (
                window.lock_held * window.seconds / window.batches * 1000 if window.batches else 0
            )
            lock = (
                f"; batches lock held {window.lock_held:.0%} of the time, "
                f"{window.lock_waiting:.2f} nodes waiting on average, {window.batches} commits "
                f"({window.spans / max(window.batches, 1):,.0f} spans each, "
                f"~{per_commit:.0f} ms under the lock each)"
            )
        print(
            f"  {window.name:<9} {window.seconds:4.1f} s: {window.rate:>9,.0f} spans/s "
            f"acknowledged{ratio} ({window.requests} requests); machine CPU "
            f"{window.machine_busy:.0%} busy; cores used: {cpu}{lock}"
        )
    print(
        f"  requests acknowledged per node {result.per_client} (whole run, node0 leads); "
        f"retries (429/503) {result.retries}; client CPU {result.client_cpu:.1f} s in all; "
        f"node peak RSS {', '.join(f'{mib:.0f}' for mib in result.peak_rss_mib)} MiB"
    )
    for line in result.lines:
        print(line)
    print(f"  load average now {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="sustained window")
    parser.add_argument("--cold", type=float, default=3.0, help="the first window")
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated, run in this order (of {', '.join(CONFIGS)})",
    )
    parser.add_argument("--connections", type=int, default=4, help="per client (per node)")
    parser.add_argument("--pool", type=int, default=300, help="requests pre-built per client")
    args = parser.parse_args()
    chosen = [CONFIGS[name] for name in args.configs.split(",")]
    print(
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"
    )
    print(
        f"each configuration fresh: {args.cold:g} s cold then {args.seconds:g} s sustained; one "
        f"client process per node, {args.connections} connections each, requests of 1,000 "
        f"spans (~340 KB), {args.pool} pre-built per client, cycled"
    )
    results: dict[str, Result] = {}
    postgres: PostgresServer | None = None
    with ExitStack() as cleanup, tempfile.TemporaryDirectory(prefix="lake-ingest-") as scratch:
        if any(config.lake for config in chosen):
            bin_dir = find_postgres_bin()
            if bin_dir is None:
                raise SystemExit("no PostgreSQL server binaries (apt-get install postgresql)")
            postgres = PostgresServer(bin_dir).start()
            cleanup.callback(postgres.stop)
        for config in chosen:
            result = run_config(config, postgres, Path(scratch) / config.name, args)
            results[config.name] = result
            print_result(result, results.get(BASELINES.get(config.name, "")))
    summary(results)


def summary(results: dict[str, Result]) -> None:
    print()
    print(f"{'configuration':<18} {'cold spans/s':>13} {'sustained spans/s':>18}  vs")
    for name, result in results.items():
        cold, sustained = (window.rate for window in result.windows)
        baseline = results.get(BASELINES.get(name, ""))
        ratio = ""
        if baseline is not None:
            base = baseline.windows[1].rate
            ratio = f"{sustained / base:.2f}x {baseline.config.name}"
        print(f"{name:<18} {cold:>13,.0f} {sustained:>18,.0f}  {ratio}")


if __name__ == "__main__":
    main()
