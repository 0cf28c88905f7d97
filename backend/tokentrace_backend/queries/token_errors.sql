-- Failing spans in a token's traces (status ERROR, server 5xx, exception events), grouped
-- by (service, span name, error type). Server 5xx without an exception type group as
-- "HTTP <status>"; a bare status ERROR groups with a null error type.
, failing AS (
    SELECT
        service_name,
        name,
        coalesce(
            error_type,
            CASE WHEN http_status >= 500 THEN 'HTTP ' || http_status::VARCHAR END
        ) AS error_kind,
        coalesce(error_message, status_message) AS message,
        start_ns,
        trace_id
    FROM linked_spans
    WHERE linked_token_id = $token_id
      AND failed
      AND start_ns >= $since_ns AND start_ns < $until_ns
      AND ($service IS NULL OR service_name = $service)
)
SELECT
    service_name,
    name,
    error_kind,
    count(*) AS n,
    arg_max(message, start_ns) FILTER (WHERE message IS NOT NULL) AS message,
    min(start_ns) AS first_ns,
    max(start_ns) AS last_ns,
    arg_max(trace_id, start_ns, 10) AS recent_trace_ids
FROM failing
GROUP BY service_name, name, error_kind
ORDER BY n DESC, last_ns DESC, service_name, name, error_kind
LIMIT $limit OFFSET $offset
