-- Dependency edges from the derived calls: one token's ($token_number) or, with a NULL
-- $token_number, every call in the window (calls of traces without a token included).
-- Then one row per service that took part, with a NULL target (the node list).
WITH calls AS MATERIALIZED (
    SELECT source, target, target_kind, duration_us, failed
    FROM token_calls
    WHERE ($token_number IS NULL OR token_number = $token_number)
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
