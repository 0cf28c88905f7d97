-- One token's dependency edges, from the calls made on its behalf.
WITH calls AS MATERIALIZED (
    SELECT source, target, target_kind, duration_us, failed
    FROM token_calls
    WHERE token_number = $token_number
      AND start_ns >= $since_ns AND start_ns < $until_ns
      AND ($service IS NULL OR source = $service OR target = $service)
)
SELECT
    source,
    target,
    target_kind,
    count(*) AS calls,
    count(*) FILTER (WHERE failed) AS errors,
    quantile_cont(duration_us, 0.95) AS p95_us
FROM calls
GROUP BY source, target, target_kind
