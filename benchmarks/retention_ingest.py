"""Ingest during a retention run: OTLP/HTTP spans/s into ``tokentrace serve`` while its
retention job rolls up and deletes millions of expired spans, against the same ingest
without a run.

    .venv/bin/python benchmarks/retention_ingest.py [--old-spans 3000000] [--batches 600]

A database of ``--old-spans`` spans 30 days old (query_latency.py's generator, its derived
tables built and compacted, the detectors caught up) is made once per run of the script;
each measurement serves a fresh copy of it:

- ``retention``: ``--retention 14d``: at start-up the job rolls up the old days and deletes
  every old span, derived row and profile row, a chunk at a time, while the load is sent;
- ``no run (old rows kept)``: the same file with ``--retention 60d``: nothing expires;
- ``no run (empty file)``: an empty database.

The load is ``--batches`` requests of 1,000 spans (otlp_load.py), sent in groups of 25 over
``--connections`` keep-alive connections, as fast as they are acknowledged. The script
polls the token summary (``since=60d``) until its ``from_rollups`` reach the retention
boundary, which the job records when it has finished, and prints the spans/s over the
whole load and over the part of it that overlapped the retention run, for each case, and
the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import httpx

from otlp_load import make_batches, send_all, spans_in, tokentrace_env, tokentrace_server
from query_latency import (
    GENERATE_SQL,
    HOURS,
    MEAN_SPANS_PER_TRACE,
    RESOURCES_SQL,
    SERVICES,
    TOKENS,
    UNINSTRUMENTED_FROM,
)
from tokentrace_backend.derived import compact_if_due, refresh_derived
from tokentrace_backend.detect import Detection
from tokentrace_backend.storage import Database

OLD_DAYS = 30
RUN = "retention run (--retention 14d)"
KEPT = "no run, old rows kept (--retention 60d)"
EMPTY = "no run, empty file"
GROUP = 25


def build_old(path: Path, spans: int) -> str:
    """A database of ``spans`` spans ``OLD_DAYS`` days old, derived; returns a token id."""
    traces = int(spans / MEAN_SPANS_PER_TRACE)
    gap_ns = HOURS * 3_600 * 1_000_000_000 // traces
    base_ns = time.time_ns() - OLD_DAYS * 86_400 * 1_000_000_000
    database = Database(path)
    try:
        with database.reader() as cursor:
            cursor.execute(RESOURCES_SQL, {"services": SERVICES})
            cursor.execute(
                GENERATE_SQL,
                {
                    "traces": traces,
                    "tokens": TOKENS,
                    "services": SERVICES,
                    "uninstrumented_from": UNINSTRUMENTED_FROM,
                    "base_ns": base_ns,
                    "trace_gap_ns": gap_ns,
                },
            )
            refresh_derived(cursor)
            cursor.execute("DELETE FROM link_spans")
            compact_if_due(cursor, force=True)
            Detection().catch_up(cursor)  # as a server that has kept up would have
            row = cursor.execute("SELECT token_id FROM token_dim LIMIT 1").fetchone()
        database.checkpoint()
    finally:
        database.close()
    assert row is not None
    return str(row[0])


class RetentionWatch(threading.Thread):
    """Polls the token summary until its roll-ups reach the retention boundary, which the job
    records last: the run has finished."""

    def __init__(self, api_url: str, token_id: str) -> None:
        super().__init__(daemon=True)
        self._url = f"{api_url}/api/tokens/{token_id}"
        boundary_s = (time.time() - 14 * 86_400) // 86_400 * 86_400
        self._boundary = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(boundary_s))
        self.finished_at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stop.wait(0.2):
                answer = client.get(self._url, params={"since": "60d"})
                part = answer.json().get("from_rollups") if answer.status_code == 200 else None
                if part and part["until"] == self._boundary:
                    self.finished_at = time.monotonic()
                    return


def measure(
    db_path: Path, retention: str, batches: list[bytes], connections: int, token_id: str | None
) -> dict[str, float]:
    spans_per_group = [
        sum(spans_in(body) for body in batches[index : index + GROUP])
        for index in range(0, len(batches), GROUP)
    ]
    ends: list[float] = []
    retries = 0
    env = {**tokentrace_env(), "TOKENTRACE_RETENTION": retention}
    with tokentrace_server(db_path, env) as server:
        watch = RetentionWatch(str(server.api_url), token_id) if token_id else None
        started = time.monotonic()
        if watch is not None:
            watch.start()
        for index in range(0, len(batches), GROUP):
            _, group_retries = asyncio.run(
                send_all(server.traces_url, batches[index : index + GROUP], connections)
            )
            retries += group_retries
            ends.append(time.monotonic())
        if watch is not None:
            watch.join(timeout=600)
            watch.stop.set()
        finished = watch.finished_at if watch is not None else None
    total = sum(spans_per_group)
    figures = {"spans_per_s": total / (ends[-1] - started), "retries": retries}
    if finished is not None:
        figures["retention_s"] = finished - started
        overlap = [
            spans for spans, end in zip(spans_per_group, ends, strict=True) if end <= finished
        ]
        if overlap:
            last = ends[len(overlap) - 1]
            figures["overlap_spans_per_s"] = sum(overlap) / (last - started)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-spans", type=int, default=3_000_000)
    parser.add_argument("--batches", type=int, default=600)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tokentrace-retention-") as scratch:
        template = Path(scratch) / "old.duckdb"
        began = time.perf_counter()
        token_id = build_old(template, arguments.old_spans)
        with duckdb.connect(str(template), read_only=True) as connection:
            row = connection.execute("SELECT count(*) FROM spans").fetchone()
        old = int(row[0]) if row else 0
        print(f"{old:,} spans {OLD_DAYS} days old, built in {time.perf_counter() - began:.1f} s")
        batches = make_batches(arguments.batches)
        print(f"load: {len(batches)} requests, {sum(map(spans_in, batches)):,} spans")

        cases = (
            (RUN, "14d", True),
            (KEPT, "60d", True),
            (EMPTY, "14d", False),
        )
        results: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in cases}
        for round_number in range(arguments.rounds):
            for label, retention, with_old in cases:
                db_path = Path(scratch) / f"run-{round_number}-{retention}-{with_old}.duckdb"
                if with_old:
                    shutil.copyfile(template, db_path)
                watched = token_id if label == RUN else None
                figures = measure(db_path, retention, batches, arguments.connections, watched)
                if label == RUN:
                    with duckdb.connect(str(db_path), read_only=True) as connection:
                        left = connection.execute(
                            "SELECT count(*) FROM spans WHERE start_ns < $b",
                            {"b": time.time_ns() - 14 * 86_400 * 1_000_000_000},
                        ).fetchone()
                    figures["old_spans_left"] = float(left[0]) if left else -1.0
                db_path.unlink()
                results[label].append(figures)
                shown = "  ".join(f"{key} {value:,.1f}" for key, value in figures.items())
                print(f"round {round_number + 1} {label:<40} {shown}", flush=True)

        def median(label: str, key: str) -> float:
            return statistics.median(figures[key] for figures in results[label] if key in figures)

        print(f"medians of {arguments.rounds} rounds:")
        for label, _, _ in cases:
            print(f"  {label:<40} {median(label, 'spans_per_s'):,.0f} spans/s")
        print(f"  retention run lasted {median(RUN, 'retention_s'):.1f} s")
        run = median(RUN, "spans_per_s")
        overlap = median(RUN, "overlap_spans_per_s")
        for label in (KEPT, EMPTY):
            base = median(label, "spans_per_s")
            print(
                f"ratio, retention run / {label}: {run / base:.2f}"
                f" (while it lasted {overlap / base:.2f})"
            )


if __name__ == "__main__":
    main()
