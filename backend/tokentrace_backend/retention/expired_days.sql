-- The days of event time that still have derived rows before $before_ns (to roll up).
SELECT DISTINCT start_ns // 86400000000000 AS day
FROM (
    SELECT start_ns FROM token_requests WHERE start_ns < $before_ns
    UNION ALL
    SELECT start_ns FROM token_calls WHERE start_ns < $before_ns
    UNION ALL
    SELECT start_ns FROM token_failures WHERE start_ns < $before_ns
)
ORDER BY day
