"""Detection quality: weeks of ordinary traffic for many tokens with incidents of every kind
injected, through a real `tokentrace serve`; precision and recall per detector, detection
latency, false positives on clean tokens, and the time of a full re-detection.

Generates --tokens tokens' ordinary traffic over --days days (office hours, round the
clock, nightly jobs; Poisson counts, slow growth, stray requests, stale-key retries, 1 %
downstream failures: tokentrace_backend/scenario/incidents.py) and --per-kind incidents of
every anomaly kind on distinct tokens in the last week (the rest stay clean), sends it as
OTLP/HTTP protobuf to `tokentrace serve` on loopback in time order, and polls
`/api/anomalies` until detection has caught up. A finding is a true positive when an
incident of its kind was injected on its token (its address, for credential stuffing).

Detection latency: from the acknowledgement of the export that held an incident's last
request to the finding's `detected_at` (the server's clock, the same machine).

With --redetect-spans N, also times `Detection.redetect` over the query benchmark's
generated N-span database (a copy of it; benchmarks/query_latency.py builds and caches it).

    .venv/bin/python benchmarks/detection_quality.py
    .venv/bin/python benchmarks/detection_quality.py --tokens 400 --per-kind 20 \
        --redetect-spans 10000000
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx

from otlp_load import tokentrace_server
from query_latency import cached_database
from tokentrace_backend.detect import AnomalyKind, Detection
from tokentrace_backend.scenario.incidents import (
    DAY_NS,
    OFFICE,
    Traffic,
    busy_hour,
    export_requests,
    habits,
    inject,
    ordinary,
)
from tokentrace_backend.settings import DEFAULT_DUCKDB_MEMORY_LIMIT, DEFAULT_DUCKDB_THREADS
from tokentrace_backend.storage import Database


def generate(tokens: int, days: int, per_kind: int, seed: int) -> tuple[Traffic, set[str], int]:
    rng = random.Random(seed)
    start_ns = (time.time_ns() - days * DAY_NS) // DAY_NS * DAY_NS
    made = habits(tokens, rng)
    if len(made) < per_kind * len(AnomalyKind) + 10:
        raise SystemExit("too few tokens for that many incidents: raise --tokens")
    traffic = Traffic()
    for habit in made:
        traffic.requests.extend(ordinary(habit, start_ns, start_ns + days * DAY_NS, rng))
    office = [habit for habit in made if habit.rhythm == OFFICE]
    pool = [habit for habit in made if habit not in office[:per_kind]]
    rng.shuffle(pool)
    last_week = start_ns + (days - 7) * DAY_NS
    for kind in AnomalyKind:
        for number in range(per_kind):
            habit = office[number] if kind is AnomalyKind.ODD_HOURS else pool.pop()
            at = last_week + rng.randrange(5 * DAY_NS)
            if kind is not AnomalyKind.ODD_HOURS:
                at = busy_hour(habit, at, start_ns)
            inject(kind, habit, at, rng, traffic)
    incident_tokens = {incident.token_id for incident in traffic.incidents}
    clean = {habit.token_id for habit in made} - incident_tokens
    return traffic, clean, start_ns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--per-kind", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--redetect-spans", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    traffic, clean, _ = generate(args.tokens, args.days, args.per_kind, args.seed)
    exports = list(export_requests(traffic))
    print(
        f"{args.tokens} tokens, {args.days} days: {len(traffic.requests):,} requests in "
        f"{len(exports)} exports, {len(traffic.incidents)} incidents "
        f"({args.per_kind} per kind), {len(clean)} clean tokens; generated in "
        f"{time.perf_counter() - started:.1f} s"
    )
    # The export that holds each incident's last request: requests are sent in time order.
    boundaries = sorted(request.start_ns for request in traffic.requests)[1999::2000]

    with (
        tempfile.TemporaryDirectory() as workdir,
        httpx.Client(timeout=120) as http,
        tokentrace_server(Path(workdir) / "quality.duckdb") as server,
    ):
        acknowledged: list[float] = []
        sending = time.perf_counter()
        for body in exports:
            answer = http.post(
                server.traces_url,
                content=body,
                headers={"Content-Type": "application/x-protobuf"},
            )
            answer.raise_for_status()
            acknowledged.append(time.time())
        sent = time.perf_counter() - sending
        print(f"sent in {sent:.1f} s ({len(traffic.requests) / sent:,.0f} requests/s)")
        findings = wait_for_detection(http, server.api_url, len(traffic.incidents))

    report(traffic, clean, findings, acknowledged, boundaries)
    if args.redetect_spans:
        redetect(args.redetect_spans)


def wait_for_detection(http: httpx.Client, api_url: str, incidents: int) -> list[dict[str, object]]:
    """Poll until the findings stop changing for 5 s (at most 120 s)."""
    deadline = time.monotonic() + 120
    last: list[dict[str, object]] = []
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        findings: list[dict[str, object]] = []
        offset: int | None = 0
        while offset is not None:
            page = http.get(
                f"{api_url}/api/anomalies", params={"limit": 1000, "offset": offset}
            ).json()
            findings += page["findings"]
            offset = page["next_offset"]
        if len(findings) != len(last):
            stable_since = time.monotonic()
        elif len(findings) >= incidents and time.monotonic() - stable_since > 5:
            return findings
        last = findings
        time.sleep(0.5)
    return last


def report(
    traffic: Traffic,
    clean: set[str],
    findings: list[dict[str, object]],
    acknowledged: list[float],
    boundaries: list[int],
) -> None:
    injected = {
        (incident.kind.value, incident.token_id or incident.client_address): incident
        for incident in traffic.incidents
    }
    found = {(str(f["kind"]), str(f["token_id"] or f["client_address"])): f for f in findings}
    print()
    print(
        f"{'kind':<22}{'injected':>9}{'found':>7}{'TP':>5}{'FP':>5}{'recall':>8}{'precision':>10}"
    )
    latencies: list[float] = []
    for kind in AnomalyKind:
        mine_injected = {key for key in injected if key[0] == kind.value}
        mine_found = {key for key in found if key[0] == kind.value}
        true = mine_injected & mine_found
        recall = len(true) / len(mine_injected) if mine_injected else 1.0
        precision = len(true) / len(mine_found) if mine_found else 1.0
        print(
            f"{kind.value:<22}{len(mine_injected):>9}{len(mine_found):>7}{len(true):>5}"
            f"{len(mine_found - true):>5}{recall:>8.2f}{precision:>10.2f}"
        )
        for key in true:
            export = _export_of(injected[key].end_ns, boundaries)
            detected = datetime.fromisoformat(str(found[key]["detected_at"])).timestamp()
            latencies.append(max(detected - acknowledged[export], 0.0))
    false_on_clean = [key for key in found if key[1] in clean]
    print()
    print(
        f"findings on clean tokens: {len(false_on_clean)} {Counter(k for k, _ in false_on_clean)}"
    )
    if latencies:
        latencies.sort()
        print(
            "detection latency (acknowledged -> finding): "
            f"median {statistics.median(latencies):.2f} s, "
            f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.2f} s, "
            f"max {latencies[-1]:.2f} s"
        )


def _export_of(start_ns: int, boundaries: list[int]) -> int:
    """Index of the export holding the request that started at ``start_ns``."""
    low, high = 0, len(boundaries)
    while low < high:
        middle = (low + high) // 2
        if boundaries[middle] < start_ns:
            low = middle + 1
        else:
            high = middle
    return low


def redetect(spans: int) -> None:
    source = cached_database(spans)
    with tempfile.TemporaryDirectory() as workdir:
        copy = Path(workdir) / "redetect.duckdb"
        shutil.copy(source, copy)
        database = Database(
            copy, memory_limit=DEFAULT_DUCKDB_MEMORY_LIMIT, threads=DEFAULT_DUCKDB_THREADS
        )
        try:
            with database.reader() as cursor:
                started = time.perf_counter()
                batches = Detection().redetect(cursor)
                seconds = time.perf_counter() - started
                row = cursor.execute("SELECT count(*) FROM spans").fetchone()
                findings = cursor.execute("SELECT count(*) FROM findings").fetchone()
        finally:
            database.close()
    assert row is not None
    assert findings is not None
    print(
        f"full re-detection over {row[0]:,} spans ({batches:,} batches): {seconds:.1f} s "
        f"(DuckDB {DEFAULT_DUCKDB_MEMORY_LIMIT}, {DEFAULT_DUCKDB_THREADS} thread); "
        f"{findings[0]:,} findings"
    )


if __name__ == "__main__":
    main()
