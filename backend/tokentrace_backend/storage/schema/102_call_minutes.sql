-- Migration 102 (derived tables): the global dependency graph, pre-aggregated per minute.
--
-- Per minute and edge: calls, errors, and a histogram of call durations in log-spaced
-- buckets (bucket b holds durations d with floor(8 * log2(d_us + 1)) = b, about 9% wide),
-- from which the graph's p95 is read (within ~5%). Rows with negative counts undo a call
-- that a late server span turned from a remote-peer call into a service edge. Maintained
-- with the derived per-token tables (derived/refresh.py).
CREATE TABLE call_minutes (
    minute_ns BIGINT NOT NULL,
    source VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    target_kind VARCHAR NOT NULL,
    calls BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    duration_buckets MAP(USMALLINT, BIGINT) NOT NULL
);
