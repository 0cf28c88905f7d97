"""Detection: the detectors read what the derived tables hold that they have not read yet,
compare each token with its own baseline, and open or update findings.

Detection follows the derived tables with a watermark of its own (``detect_state``): a
chunk is the batches ``(last read, up to the derived tables' watermark]``, at most
``chunk_spans`` spans, in one transaction that reads the chunk's request spans from
``spans`` (by ``batch_id``) and its downstream failures from ``token_failures`` (by
``slice_batch``), runs the detectors, merges their candidates into ``findings``, folds the
chunk into the per-token profiles (storage/schema/201_detection_profiles.sql) and moves the
watermark. So a detector costs in proportion to what is new, never a scan of the history,
and a failing detector cannot hold up the derived tables (their refresh is done before).

The order inside a chunk matters: the first-use detectors (``new_endpoint``,
``new_network``) compare the chunk with the profiles *before* it enters them; the rate
detectors compare an hour's totals *after* it (an hour's count grows chunk by chunk, and
its baseline is the token's earlier hours). Event time (``start_ns``) is the clock of every
baseline, so weeks of traffic replayed in minutes are judged as they happened.

:meth:`Detection.redetect` starts over: profiles and watermark are cleared and every batch
is read again, in the same chunks; findings a user acknowledged or resolved keep their
state (see findings_merge.sql).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Final

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from tokentrace_backend.detect.geoip import CountryLookup
from tokentrace_backend.detect.kinds import AnomalyKind
from tokentrace_backend.detect.networks import network_of
from tokentrace_backend.detect.thresholds import HOUR_NS, DetectionThresholds
from tokentrace_backend.storage.batches import batch_range_end
from tokentrace_backend.storage.sql import load_sql, run, run_script

# Compared with the profiles before the chunk enters them.
FIRST_USE_DETECTORS: Final = (
    AnomalyKind.NEW_ENDPOINT,
    AnomalyKind.NEW_NETWORK,
    AnomalyKind.SCOPE_VIOLATION,
    AnomalyKind.USE_AFTER_EXPIRY,
    AnomalyKind.USE_AFTER_REVOCATION,
    AnomalyKind.TOKEN_IN_URL,
)
# Compared with the profiles after it: an hour's totals against the token's earlier hours.
RATE_DETECTORS: Final = (
    AnomalyKind.BURST,
    AnomalyKind.ERROR_SPIKE,
    AnomalyKind.AUTH_FAILURE_BURST,
    AnomalyKind.CREDENTIAL_STUFFING,
    AnomalyKind.SHARED_TOKEN,
    AnomalyKind.ODD_HOURS,
)
assert set(FIRST_USE_DETECTORS) | set(RATE_DETECTORS) == set(AnomalyKind)

DEFAULT_CHUNK_SPANS: Final = 500_000
# How often the background refresh's thread runs the detectors (``follow``): often enough
# for a finding within seconds, seldom enough that under sustained ingest detection takes
# a bounded share of the thread that also keeps the answers fresh.
DEFAULT_FOLLOW_INTERVAL_SECONDS: Final = 2.0
# A re-detection reads everything at once: larger chunks halve its fixed costs per chunk
# (over 10 M spans: 10.3 s in 500,000-span chunks, 6.7 s in 2 M-span ones).
REDETECT_CHUNK_SPANS: Final = 2_000_000

_CHUNK_REQUESTS = load_sql("detect/chunk_requests")
_CHUNK = load_sql("detect/chunk")
_DETECTORS = {kind: load_sql(f"detect/{kind.value}") for kind in AnomalyKind}
_PROFILES = load_sql("detect/profiles")
_PROFILES_SNAPSHOT = load_sql("detect/profiles_snapshot")
_FIRST_USE_HISTORY = load_sql("detect/first_use_history")
_MERGE = load_sql("detect/findings_merge")
_PRUNE = load_sql("detect/prune")
_TEMP_TABLES: Final = (
    "detect_requests",
    "detect_networks",
    "detect_profiles",
    "detect_history",
    "detect_failures",
    "detect_hours",
    "detect_raw",
    "detect_candidates",
)
_PROFILE_TABLES: Final = (
    "token_hours",
    "token_clients",
    "token_endpoints",
    "address_failures",
)
_NETWORKS_SCHEMA: Final = pa.schema(
    [("client_address", pa.string()), ("network", pa.string()), ("country", pa.string())]
)


class Detection:
    """Runs the detectors over what is new; one run at a time per instance."""

    def __init__(
        self,
        thresholds: DetectionThresholds | None = None,
        *,
        chunk_spans: int = DEFAULT_CHUNK_SPANS,
        countries: CountryLookup | None = None,
        follow_interval: float = DEFAULT_FOLLOW_INTERVAL_SECONDS,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        """``countries``: where client addresses are, for the new-network findings."""
        self.thresholds = thresholds or DetectionThresholds()
        self._countries = countries
        self._follow_interval = follow_interval
        self._followed_at = -follow_interval  # time.monotonic() of the last follow
        self._chunk_spans = chunk_spans
        self._clock = clock
        self._lock = threading.Lock()
        self._pruned_hour = 0
        self.findings_opened = 0

    def catch_up(self, cursor: duckdb.DuckDBPyConnection, *, chunk_spans: int | None = None) -> int:
        """Detect over every batch the derived tables hold that detection has not read;
        returns the number of batches read."""
        with self._lock:
            read = 0
            while True:
                chunk = self._next_chunk(cursor, chunk_spans or self._chunk_spans)
                if chunk is None:
                    return read
                self._detect_chunk(cursor, *chunk)
                read += chunk[1] - chunk[0]

    def follow(self, cursor: duckdb.DuckDBPyConnection) -> int:
        """Called after every refresh of the derived tables: detect over one chunk of what
        is new, at most once per ``follow_interval`` seconds; returns the batches read.
        (One chunk, so that a backlog does not hold up the refresh that follows.)"""
        now = time.monotonic()
        if now - self._followed_at < self._follow_interval:
            return 0
        self._followed_at = now
        with self._lock:
            chunk = self._next_chunk(cursor, self._chunk_spans)
            if chunk is None:
                return 0
            self._detect_chunk(cursor, *chunk)
            return chunk[1] - chunk[0]

    def redetect(self, cursor: duckdb.DuckDBPyConnection) -> int:
        """Forget the profiles and read every batch again; returns the batches read."""
        with self._lock:
            cursor.execute("BEGIN TRANSACTION")
            try:
                for table in _PROFILE_TABLES:
                    cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (constant names)
                cursor.execute("UPDATE detect_state SET last_batch_id = 0")
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            self._pruned_hour = 0
        return self.catch_up(cursor, chunk_spans=REDETECT_CHUNK_SPANS)

    def _next_chunk(
        self, cursor: duckdb.DuckDBPyConnection, chunk_spans: int
    ) -> tuple[int, int] | None:
        """(from_batch, to_batch] of the next chunk, or None when detection is caught up."""
        row = cursor.execute(
            "SELECT (SELECT last_batch_id FROM detect_state),"
            " (SELECT last_batch_id FROM derived_state WHERE name = 'token_tables')"
        ).fetchone()
        assert row is not None
        from_batch, derived_through = int(row[0]), int(row[1])
        if derived_through <= from_batch:
            return None
        end = batch_range_end(cursor, from_batch, derived_through, chunk_spans)
        if end is None:  # the batches hold no spans (expired)
            return from_batch, derived_through
        return from_batch, end

    def _detect_chunk(
        self, cursor: duckdb.DuckDBPyConnection, from_batch: int, to_batch: int
    ) -> None:
        parameters: dict[str, Any] = self.thresholds.sql_parameters() | {
            "from_batch": from_batch,
            "to_batch": to_batch,
            "now_ns": self._clock(),
        }
        cursor.execute("BEGIN TRANSACTION")
        try:
            run(cursor, _CHUNK_REQUESTS, parameters)
            self._networks(cursor)
            run_script(cursor, _CHUNK, parameters)
            run(cursor, _PROFILES_SNAPSHOT, parameters)
            run(cursor, _FIRST_USE_HISTORY, parameters)
            for kind in FIRST_USE_DETECTORS:
                run(cursor, _DETECTORS[kind], parameters)
            run_script(cursor, _PROFILES, parameters)
            run(cursor, _PROFILES_SNAPSHOT, parameters)
            for kind in RATE_DETECTORS:
                run(cursor, _DETECTORS[kind], parameters)
            before = _count_findings(cursor)
            run_script(cursor, _MERGE, parameters)
            opened = _count_findings(cursor) - before
            self._prune_if_due(cursor)
            cursor.execute("UPDATE detect_state SET last_batch_id = $to", {"to": to_batch})
            for table in _TEMP_TABLES:  # constant names
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        self.findings_opened += opened

    def _networks(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """``detect_networks``: the /24 or /48 of each distinct client address of the chunk,
        and its country when a GeoIP database is configured."""
        addresses = cursor.execute(
            "SELECT DISTINCT client_address FROM detect_requests WHERE client_address IS NOT NULL"
        ).fetchall()
        rows = []
        for (address,) in addresses:
            network = network_of(address)
            if network is not None:
                country = self._countries.country_of(address) if self._countries else None
                rows.append({"client_address": address, "network": network, "country": country})
        table = pa.Table.from_pylist(rows, schema=_NETWORKS_SCHEMA)
        cursor.register("detect_address_networks", table)
        try:
            cursor.execute(
                "CREATE OR REPLACE TEMP TABLE detect_networks AS"
                " SELECT * FROM detect_address_networks"
            )
        finally:
            cursor.unregister("detect_address_networks")

    def _prune_if_due(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Forget profile rows older than the baseline window, once per hour of event time.
        The chunk's 99th-percentile start time is its "now" (not its maximum: one span
        with a clock years ahead must not prune everything), and never ahead of the wall
        clock."""
        row = cursor.execute(
            "SELECT approx_quantile(start_ns, 0.99) FROM detect_requests"
        ).fetchone()
        if row is None or row[0] is None:
            return
        reference_hour = min(int(row[0]), self._clock()) // HOUR_NS
        prune_hour = reference_hour - self.thresholds.baseline_hours - 24
        if prune_hour > self._pruned_hour:
            run_script(cursor, _PRUNE, {"prune_hour": prune_hour})
            self._pruned_hour = prune_hour


def _count_findings(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.execute("SELECT count(*) FROM findings").fetchone()
    return int(row[0]) if row else 0
