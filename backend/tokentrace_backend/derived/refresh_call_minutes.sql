-- The per-minute graph: add this slice's calls and undo the superseded remote-peer calls
-- (selected by refresh_superseded_calls, counted negatively), durations as a log-bucket
-- histogram. Rows add up: the global graph sums them.
INSERT INTO call_minutes
SELECT
    minute_ns,
    source,
    target,
    target_kind,
    sum(n)::BIGINT,
    sum(errors)::BIGINT,
    map_from_entries(list({'k': bucket, 'v': n::BIGINT}))
FROM (
    SELECT
        start_ns // 60000000000 * 60000000000 AS minute_ns,
        source,
        target,
        target_kind,
        floor(8 * log2(duration_us + 1))::USMALLINT AS bucket,
        sum(sign) AS n,
        coalesce(sum(sign) FILTER (WHERE failed), 0) AS errors
    FROM (
        SELECT *, 1 AS sign FROM refresh_new_calls
        UNION ALL
        SELECT * EXCLUDE (slice_batch), -1 AS sign FROM refresh_superseded
    )
    GROUP BY ALL
)
GROUP BY minute_ns, source, target, target_kind
