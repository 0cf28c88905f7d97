"""Query-latency benchmark: the correlation queries over a generated 10 M-span database.

    .venv/bin/python benchmarks/query_latency.py [--spans 10000000] [--runs 20]

The database is built directly with SQL inside DuckDB (range() and hash-based
pseudo-random values) through ``tokentrace_backend.storage.Database``, so its schema is the
real one. Profile: ~10,000 tokens, 20 services (15 run tokentrace, 5 do not, so trace
linking has work to do), traces of 3-8 spans alternating SERVER and CLIENT spans across
services, the last CLIENT span of a trace calling a database, ~2% failing spans with an
exception event, a spread of auth outcomes, traces evenly spread over 20 hours in ingest
order. The file is cached under ~/.cache/tokentrace/bench/, keyed by a hash of the schema
files and of this generator, so later runs skip generation.

Prints the median (and p90) of --runs calls per query over random tokens, the bytes per
span on disk and the generation time.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from tokentrace_backend import queries
from tokentrace_backend.derived import DerivedTables, compact_if_due, refresh_derived
from tokentrace_backend.queries import QueryFilters, Window
from tokentrace_backend.settings import (
    DEFAULT_DUCKDB_MEMORY_LIMIT,
    DEFAULT_DUCKDB_THREADS,
    LifecycleSettings,
)
from tokentrace_backend.storage import Database, migration_files

GENERATOR_VERSION = "1"
CACHE_DIR = Path.home() / ".cache" / "tokentrace" / "bench"
SERVICES = 20
UNINSTRUMENTED_FROM = 15  # services 15..19 do not run tokentrace: their spans carry no token
TOKENS = 10_000
MEAN_SPANS_PER_TRACE = 5.5
HOURS = 20

# One INSERT builds every span. $traces traces; trace t has 3 + h(t) % 6 spans. Span i of
# a trace: i = 0 the entry SERVER span (tagged by the middleware), odd i a CLIENT span in
# the service of span i - 1, even i > 0 a SERVER span of a pseudo-random service, child of
# span i - 1. A trailing CLIENT span (odd last index) is a database call.
GENERATE_SQL = """
INSERT INTO spans
WITH traces AS (
    SELECT
        t,
        (3 + hash(t, 'n') % 6)::INTEGER AS n_spans,
        unhex(md5(t::VARCHAR)) AS trace_id,
        (hash(t, 'tok') % $tokens)::INTEGER AS token_number,
        $base_ns + t * $trace_gap_ns AS trace_start_ns
    FROM range($traces) AS r(t)
),
positions AS (
    SELECT tr.*, i,
        -- a CLIENT span (odd i) runs in the service of the span before it
        CASE
            WHEN i // 2 = 0 THEN hash(t, 'entry') % 3
            ELSE 3 + hash(t, i // 2) % ($services - 3)
        END::INTEGER AS service_number
    FROM traces AS tr, generate_series(0, 7) AS g(i)
    WHERE i < n_spans
),
shaped AS (
    SELECT *,
        CASE WHEN i = 0 THEN 2 WHEN i % 2 = 1 THEN 3 ELSE 2 END AS kind,
        (i % 2 = 1 AND i = n_spans - 1) AS is_db_call,
        hash(t, i, 'err') % 100 < 2 AS failed,
        (hash(t, 'outcome') % 100)::INTEGER AS outcome_roll,
        md5('token-' || token_number::VARCHAR)[:32] AS token_hex
    FROM positions
)
SELECT
    trace_id,
    hash(t, i) AS span_id,
    CASE WHEN i = 0 THEN NULL ELSE hash(t, i - 1) END AS parent_span_id,
    'svc-' || lpad(service_number::VARCHAR, 2, '0') AS service_name,
    '1.' || (service_number % 4)::VARCHAR || '.0' AS service_version,
    CASE
        WHEN is_db_call THEN 'SELECT orders'
        WHEN kind = 3 THEN 'GET'
        ELSE 'GET /api/v1/resource-' || (hash(t, i, 'route') % 12)::VARCHAR
    END AS name,
    kind::UTINYINT,
    trace_start_ns + i * 1_000_000 AS start_ns,
    (2 + hash(t, i, 'dur') % 200) * 1_000_000 // (1 + i // 2) AS duration_ns,
    CASE WHEN failed THEN 2 ELSE 0 END::UTINYINT AS status_code,
    CASE WHEN failed THEN 'upstream failure' END AS status_message,
    CASE WHEN kind = 2 OR NOT is_db_call THEN
        CASE WHEN hash(t, i, 'm') % 4 = 0 THEN 'POST' ELSE 'GET' END END AS http_method,
    CASE WHEN kind = 2 THEN '/api/v1/resource-' || (hash(t, i, 'route') % 12)::VARCHAR END
        AS http_route,
    CASE
        WHEN is_db_call THEN NULL
        WHEN i = 0 AND outcome_roll >= 97 THEN 401
        WHEN i = 0 AND outcome_roll >= 95 THEN 403
        WHEN failed THEN 500
        ELSE 200
    END::USMALLINT AS http_status,
    CASE WHEN kind = 2 THEN '/api/v1/resource-' || (hash(t, i, 'route') % 12)::VARCHAR END
        AS url_path,
    CASE WHEN i = 0 THEN
        '10.' || (token_number % 200)::VARCHAR || '.0.' || (hash(t, 'ip') % 3)::VARCHAR END
        AS client_address,
    CASE WHEN i = 0 THEN
        ['python-httpx/0.28', 'curl/8.5', 'Mozilla/5.0', 'ci-runner/2'][1 + token_number % 4]
        END AS user_agent,
    NULL AS peer_service,
    CASE WHEN is_db_call THEN
        ['postgresql', 'redis', 'sqlite'][(1 + hash(t, 'db') % 3)::INTEGER] END AS db_system,
    CASE WHEN is_db_call THEN 'db-' || (hash(t, 'db') % 3)::VARCHAR || '.internal' END
        AS server_address,
    NULL AS messaging_system,
    CASE WHEN service_number < $uninstrumented_from THEN token_hex END AS token_id,
    CASE WHEN i = 0 THEN 'k1' END AS token_key_id,
    CASE WHEN i = 0 THEN
        CASE
            WHEN outcome_roll >= 99 THEN 'expired'
            WHEN outcome_roll >= 98 THEN 'revoked'
            WHEN outcome_roll >= 97 THEN 'invalid'
            WHEN outcome_roll >= 95 THEN 'insufficient_scope'
            ELSE 'success'
        END END AS auth_outcome,
    CASE WHEN i = 0 THEN 'recorded' END AS auth_outcome_source,
    CASE WHEN i = 0 THEN 'owner-' || (token_number % 700)::VARCHAR END AS token_owner,
    CASE WHEN i = 0 THEN 'token ' || token_number::VARCHAR END AS token_name,
    CASE WHEN failed THEN
        ['TimeoutError', 'OperationalError', 'ValueError'][(1 + hash(t, i) % 3)::INTEGER]
        END AS error_type,
    CASE WHEN failed THEN 'request failed after retries' END AS error_message,
    CASE WHEN kind = 2 THEN '{"url.scheme":"http","network.protocol.version":"1.1"}'
        ELSE NULL END::JSON AS attributes,
    service_number AS resource_id,
    CASE WHEN failed THEN
        '[{"name":"exception","time_ns":0,"attributes":{"exception.type":"TimeoutError"}}]'
        END::JSON AS events,
    t // 180 AS batch_id
FROM shaped
ORDER BY t, i
"""

RESOURCES_SQL = """
INSERT INTO resources
SELECT s, 'svc-' || lpad(s::VARCHAR, 2, '0'), '1.' || (s % 4)::VARCHAR || '.0', '{}'
FROM range($services) AS r(s)
"""


def schema_key() -> str:
    digest = hashlib.sha256(GENERATOR_VERSION.encode())
    for migration in migration_files():
        digest.update(migration.name.encode() + migration.sql.encode())
    # the derived tables are built into the cached file too (their SQL is in files and in
    # the modules that run it)
    for source in sorted(resources.files("tokentrace_backend.derived").iterdir(), key=str):
        if source.name.endswith((".sql", ".py")):
            digest.update(source.read_bytes())
    digest.update(GENERATE_SQL.encode())
    return digest.hexdigest()[:16]


def build(path: Path, spans: int) -> float:
    """Generate the database at ``path``; returns the seconds it took."""
    started = time.perf_counter()
    traces = int(spans / MEAN_SPANS_PER_TRACE)
    trace_gap_ns = HOURS * 3_600 * 1_000_000_000 // traces
    base_ns = time.time_ns() - HOURS * 3_600 * 1_000_000_000
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    database = Database(partial)
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
                    "trace_gap_ns": trace_gap_ns,
                },
            )
        generated = time.perf_counter()
        print(f"spans generated in {generated - started:.1f} s")
        with database.reader() as cursor:
            refresh_derived(cursor)
            # The spans "arrived" hours ago: their link window has long passed.
            cursor.execute("DELETE FROM link_spans")
        derived = time.perf_counter()
        print(f"derived per-token tables built in {derived - generated:.1f} s")
        with database.reader() as cursor:
            compact_if_due(cursor, force=True)
        print(
            f"derived tables compacted (sorted by token) in {time.perf_counter() - derived:.1f} s"
        )
        database.checkpoint()
    finally:
        database.close()
    partial.rename(path)
    return time.perf_counter() - started


def timed(function: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1_000)
    return samples


def report(label: str, samples: list[float], target_ms: float) -> None:
    median = statistics.median(samples)
    p90 = sorted(samples)[int(len(samples) * 0.9) - 1] if len(samples) >= 10 else max(samples)
    verdict = "ok" if median < target_ms else "MISS"
    print(
        f"{label:<28} median {median:8.1f} ms   p90 {p90:8.1f} ms   "
        f"target < {target_ms:.0f} ms  {verdict}"
    )


def cached_database(spans: int) -> Path:
    """The generated database of ``spans`` spans, built once per schema and generator."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"spans-{spans}-{schema_key()}.duckdb"
    if path.exists():
        print(f"database: {path} (cached)")
    else:
        seconds = build(path, spans)
        print(f"database: {path} generated in {seconds:.1f} s")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--global-runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    path = cached_database(args.spans)

    # Queried under the memory limit `tokentrace serve` runs with.
    database = Database(
        path, memory_limit=DEFAULT_DUCKDB_MEMORY_LIMIT, threads=DEFAULT_DUCKDB_THREADS
    )
    print(
        f"DuckDB memory limit {DEFAULT_DUCKDB_MEMORY_LIMIT}, {DEFAULT_DUCKDB_THREADS} thread"
        " (as tokentrace serve)"
    )
    try:
        with database.reader() as cursor:
            row = cursor.execute(
                "SELECT count(*), min(start_ns), max(start_ns), count(DISTINCT token_id) FROM spans"
            ).fetchone()
            assert row is not None
            span_count, first_ns, last_ns, token_count = row
            tokens = [
                r[0]
                for r in cursor.execute(
                    "SELECT DISTINCT token_id FROM spans WHERE token_id IS NOT NULL"
                ).fetchall()
            ]
        size = path.stat().st_size
        wal = path.with_name(path.name + ".wal")
        size += wal.stat().st_size if wal.exists() else 0
        with database.reader() as cursor:
            block_size, used_blocks, free_blocks = cursor.execute(
                "SELECT block_size, used_blocks, free_blocks FROM pragma_database_size()"
            ).fetchone()  # type: ignore[misc]
        print(
            f"spans {span_count:,}  tokens {token_count:,}  file {size / 1e6:.1f} MB  "
            f"= {size / span_count:.1f} bytes/span (target <= 60); in use "
            f"{used_blocks * block_size / span_count:.1f} bytes/span, the rest is "
            f"{free_blocks} free blocks (left by compaction, reused by later writes)"
        )
        filters = QueryFilters(window=Window(since_ns=first_ns, until_ns=last_ns + 1))
        picker = random.Random(args.seed)

        # Each call does what the API does: catch up the derived tables (a no-op here, no
        # new batches), look the token up, run the query.
        derived = DerivedTables()

        def per_token(query: Callable[..., object]) -> Callable[[], object]:
            def call() -> object:
                with database.reader() as cursor:
                    derived.catch_up(cursor)
                    token = queries.find_token(cursor, picker.choice(tokens))
                    return query(cursor, token, filters)

            return call

        def errors(cursor: object, token: object, filters: QueryFilters) -> object:
            return queries.token_errors(cursor, token, filters, limit=100, offset=0)  # type: ignore[arg-type]

        def global_map() -> object:
            with database.reader() as cursor:
                derived.catch_up(cursor)
                return queries.global_dependencies(cursor, filters)

        def summary(cursor: object, token: object, filters: QueryFilters) -> object:
            return queries.token_summary(
                cursor,  # type: ignore[arg-type]
                token,  # type: ignore[arg-type]
                filters,
                now_ns=time.time_ns(),
                thresholds=LifecycleSettings(),
            )

        per_token(summary)()  # warm the buffer pool once
        report("token summary", timed(per_token(summary), args.runs), 100)
        report("token errors", timed(per_token(errors), args.runs), 100)
        report("token dependency map", timed(per_token(queries.token_dependencies), args.runs), 100)
        report("token timeline", timed(per_token(queries.token_timeline), args.runs), 100)
        report("global dependency map", timed(global_map, args.global_runs), 500)

        # Not a target: one trace's spans are found by scanning trace_id over all spans.
        with database.reader() as cursor:
            trace_ids = [
                bytes(r[0]).hex()
                for r in cursor.execute(
                    "SELECT trace_id FROM spans USING SAMPLE 20 ROWS"
                ).fetchall()
            ]

        def one_trace() -> object:
            with database.reader() as cursor:
                return queries.trace_detail(cursor, picker.choice(trace_ids))

        report("trace detail (info)", timed(one_trace, 5), 1_000)

        def token_list() -> object:
            with database.reader() as cursor:
                return queries.list_tokens(cursor, filters, limit=100, offset=0)

        report("token list, first page (info)", timed(token_list, 5), 1_000)
    finally:
        database.close()


if __name__ == "__main__":
    main()
