-- Undo the superseded remote-peer calls in the per-minute graph (negative counts).
INSERT INTO call_minutes
SELECT
    minute_ns,
    source,
    target,
    target_kind,
    -sum(n)::BIGINT,
    -sum(errors)::BIGINT,
    map_from_entries(list({'k': bucket, 'v': -n::BIGINT}))
FROM (
    SELECT
        start_ns // 60000000000 * 60000000000 AS minute_ns,
        source,
        target,
        target_kind,
        floor(8 * log2(duration_us + 1))::USMALLINT AS bucket,
        count(*) AS n,
        count(*) FILTER (WHERE failed) AS errors
    FROM refresh_superseded
    GROUP BY ALL
)
GROUP BY minute_ns, source, target, target_kind
