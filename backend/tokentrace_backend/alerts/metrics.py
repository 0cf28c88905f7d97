"""``GET /metrics``: the backend's state in Prometheus' text format, through
``prometheus_client`` with a registry of its own (never the process-global one).

Everything is read when Prometheus scrapes, from the tables themselves and the writer's
counter, so there is nothing to keep in step:

- ``tokentrace_findings{kind,severity,state}`` (gauge): findings now;
- ``tokentrace_spans_ingested_total`` (counter): spans the writer committed since the start;
- ``tokentrace_ingest_requests_dropped_total{reason}`` (counter): export requests the
  receiver dropped before their spans reached the writer (``body_timeout``,
  ``client_disconnected``, ``client_limit``, ``buffer_full``; ingest/counters.py);
- ``tokentrace_derived_batches_behind``, ``tokentrace_derived_spans_behind`` (gauges):
  what the derived per-token tables have not taken yet;
- ``tokentrace_derived_seconds_since_refresh`` (gauge): since their refresh last ran (on
  this process: in lake mode, read it on the leader);
- ``tokentrace_leader`` (gauge): 1 when this process runs the work done once per database
  (deriving, detecting, alerting, auditing, retention): always for a file, one node of a
  lake;
- ``tokentrace_alert_deliveries{rule,status}`` (gauge), ``tokentrace_alert_rules`` (gauge).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol

import duckdb
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tokentrace_backend.storage.database import ReadableDatabase

from .delivery_log import delivery_counts
from .rules import AlertRule

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


class SpanCounter(Protocol):
    """What the metrics need of the writer (``SpanWriter`` provides it)."""

    @property
    def spans_written(self) -> int:
        """Spans committed since the process started."""
        ...


class DropCounter(Protocol):
    """What the metrics need of the OTLP receiver (``ingest.IngestCounters`` provides it)."""

    @property
    def requests_dropped(self) -> Mapping[str, int]:
        """Export requests dropped since the process started, by reason."""
        ...


class BackendMetrics(Collector):
    """The collector behind ``/metrics``; :meth:`render` answers a scrape.

    Give :meth:`note_refresh` to the derived tables' background refresh as a follower, so
    that the collector knows when it last ran (until then, the seconds count from the
    start).
    """

    def __init__(
        self,
        database: ReadableDatabase,
        *,
        spans: SpanCounter | None = None,
        rules: Sequence[AlertRule] = (),
        clock: Callable[[], float] = time.monotonic,
        dropped: DropCounter | None = None,
        leads: Callable[[], bool] | None = None,
    ) -> None:
        self._database = database
        self._leads = leads
        self._spans = spans
        self._dropped = dropped
        self._rules = tuple(rules)
        self._clock = clock
        self._last_refresh = clock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def note_refresh(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """A follower of the background refresh: it has just caught the tables up (or
        found nothing new)."""
        self._last_refresh = self._clock()

    def render(self) -> bytes:
        """The text exposition of every metric, read now."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        with self._database.reader() as cursor:
            yield self._findings(cursor)
            yield from self._derived(cursor)
            yield self._deliveries(cursor)
        spans = CounterMetricFamily(
            "tokentrace_spans_ingested",
            "Spans the writer committed to DuckDB since the server started.",
        )
        spans.add_metric([], 0 if self._spans is None else self._spans.spans_written)
        yield spans
        dropped = CounterMetricFamily(
            "tokentrace_ingest_requests_dropped",
            "Export requests the OTLP receiver dropped before their spans reached the "
            "writer, by reason.",
            labels=["reason"],
        )
        for reason, count in (self._dropped.requests_dropped if self._dropped else {}).items():
            dropped.add_metric([reason], count)
        yield dropped
        yield GaugeMetricFamily(
            "tokentrace_alert_rules", "Alert rules configured.", value=len(self._rules)
        )
        yield GaugeMetricFamily(
            "tokentrace_leader",
            "1 when this process derives, detects, alerts, audits and retains for the "
            "database (a file's one process; one node of a lake).",
            value=1 if self._leads is None or self._leads() else 0,
        )

    def _findings(self, cursor: duckdb.DuckDBPyConnection) -> Metric:
        family = GaugeMetricFamily(
            "tokentrace_findings",
            "Findings of the detectors now, by kind, severity and state.",
            labels=["kind", "severity", "state"],
        )
        rows = cursor.execute(
            "SELECT kind, severity, state, count(*) FROM findings GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        for kind, severity, state, count in rows:
            family.add_metric([kind, severity, state], count)
        return family

    def _derived(self, cursor: duckdb.DuckDBPyConnection) -> Iterator[Metric]:
        row = cursor.execute(
            "SELECT last_batch_id FROM derived_state WHERE name = 'token_tables'"
        ).fetchone()
        derived_through = int(row[0]) if row else 0
        # Row groups at or below the mark are skipped by their min/max: this reads the tail.
        behind = cursor.execute(
            "SELECT max(batch_id), count(*) FROM spans WHERE batch_id > $through",
            {"through": derived_through},
        ).fetchone()
        newest, spans_behind = behind if behind else (None, 0)
        yield GaugeMetricFamily(
            "tokentrace_derived_batches_behind",
            "Committed span batches the derived per-token tables have not taken yet.",
            value=0 if newest is None else int(newest) - derived_through,
        )
        yield GaugeMetricFamily(
            "tokentrace_derived_spans_behind",
            "Spans of the batches the derived per-token tables have not taken yet.",
            value=int(spans_behind),
        )
        detected = cursor.execute("SELECT last_batch_id FROM detect_state").fetchone()
        yield GaugeMetricFamily(
            "tokentrace_detection_batches_behind",
            "Batches the derived tables hold that the detectors have not read yet.",
            value=max(derived_through - (int(detected[0]) if detected else 0), 0),
        )
        yield GaugeMetricFamily(
            "tokentrace_derived_seconds_since_refresh",
            "Seconds since the background refresh of the derived tables last ran (it runs "
            "every 0.25 s or so, with or without anything new; since the start if never).",
            value=max(self._clock() - self._last_refresh, 0.0),
        )

    def _deliveries(self, cursor: duckdb.DuckDBPyConnection) -> Metric:
        family = GaugeMetricFamily(
            "tokentrace_alert_deliveries",
            "Alert deliveries recorded, by rule and status (pending, delivered, failed).",
            labels=["rule", "status"],
        )
        for rule, status, count in delivery_counts(cursor):
            family.add_metric([rule, status], count)
        return family
