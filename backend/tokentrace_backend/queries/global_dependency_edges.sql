-- The global graph from the per-minute aggregate: the minutes that start inside the
-- window. p95 is read from the merged duration histograms (the bucket's geometric middle).
WITH minutes AS MATERIALIZED (
    SELECT source, target, target_kind, calls, errors, duration_buckets
    FROM call_minutes
    WHERE minute_ns >= $since_ns AND minute_ns < $until_ns
      AND ($service IS NULL OR source = $service OR target = $service)
),
totals AS (
    SELECT source, target, target_kind, sum(calls) AS calls, sum(errors) AS errors
    FROM minutes
    GROUP BY ALL
    HAVING sum(calls) > 0
),
buckets AS (
    SELECT source, target, target_kind, entry.key AS bucket, sum(entry.value) AS n
    FROM (
        SELECT source, target, target_kind, unnest(map_entries(duration_buckets)) AS entry
        FROM minutes
    )
    GROUP BY ALL
),
running AS (
    SELECT *, sum(n) OVER (
        PARTITION BY source, target, target_kind ORDER BY bucket
    ) AS at_or_below
    FROM buckets
)
SELECT
    t.source,
    t.target,
    t.target_kind,
    t.calls,
    t.errors,
    (SELECT pow(2, (min(r.bucket) + 0.5) / 8) - 1
        FROM running AS r
        WHERE r.source = t.source AND r.target = t.target AND r.target_kind = t.target_kind
          AND r.at_or_below >= 0.95 * t.calls) AS p95_us
FROM totals AS t
