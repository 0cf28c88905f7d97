-- Roll up one day of event time, [$day_start_ns, $day_end_ns) before $before_ns, from the
-- derived tables into the daily roll-ups, delete the rows rolled up and move the boundary
-- past the day (one transaction, retention/expiry.py): every row is counted either here or
-- there, never in both, whenever a summary reads.
INSERT INTO token_request_days
SELECT
    token_number,
    $day_start_ns // 86400000000000 AS day,
    service_name, http_method, http_route, auth_outcome, client_address, user_agent, failed,
    sum(n)::BIGINT, min(first_ns), max(last_ns), max(max_us),
    map_from_entries(list({'k': bucket, 'v': n::BIGINT}))
FROM (
    SELECT token_number, service_name, http_method, http_route, auth_outcome,
        client_address, user_agent, failed,
        floor(8 * log2(duration_us + 1))::USMALLINT AS bucket,
        count(*) AS n, min(start_ns) AS first_ns, max(start_ns) AS last_ns,
        max(duration_us) AS max_us
    FROM token_requests
    WHERE start_ns >= $day_start_ns AND start_ns < $day_end_ns AND start_ns < $before_ns
    GROUP BY ALL
)
GROUP BY ALL;
INSERT INTO token_call_days
SELECT
    token_number, $day_start_ns // 86400000000000 AS day, source, target, target_kind,
    sum(n)::BIGINT, sum(errors)::BIGINT,
    map_from_entries(list({'k': bucket, 'v': n::BIGINT}))
FROM (
    SELECT token_number, source, target, target_kind,
        floor(8 * log2(duration_us + 1))::USMALLINT AS bucket,
        count(*) AS n, count(*) FILTER (WHERE failed) AS errors
    FROM token_calls
    WHERE start_ns >= $day_start_ns AND start_ns < $day_end_ns AND start_ns < $before_ns
    GROUP BY ALL
)
GROUP BY ALL;
INSERT INTO token_failure_days
SELECT
    token_number, $day_start_ns // 86400000000000 AS day, service_name, span_name,
    error_kind, count(*), min(start_ns), max(start_ns)
FROM token_failures
WHERE start_ns >= $day_start_ns AND start_ns < $day_end_ns AND start_ns < $before_ns
GROUP BY ALL;
DELETE FROM token_requests
WHERE start_ns >= $day_start_ns AND start_ns < $day_end_ns AND start_ns < $before_ns;
DELETE FROM token_calls
WHERE start_ns >= $day_start_ns AND start_ns < $day_end_ns AND start_ns < $before_ns;
DELETE FROM token_failures
WHERE start_ns >= $day_start_ns AND start_ns < $day_end_ns AND start_ns < $before_ns;
-- Answers about this day now come from the roll-ups (queries/token_summary).
UPDATE retention_state
SET expired_before_ns = greatest(expired_before_ns, least($day_end_ns, $before_ns))
