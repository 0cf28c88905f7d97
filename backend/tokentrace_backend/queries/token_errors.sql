-- Failing spans linked to a token, grouped by (service, span name, error kind).
SELECT
    service_name,
    span_name,
    error_kind,
    count(*) AS n,
    arg_max(message, start_ns) FILTER (WHERE message IS NOT NULL) AS message,
    min(start_ns) AS first_ns,
    max(start_ns) AS last_ns,
    arg_max(trace_id, start_ns, 10) AS recent_trace_ids
FROM token_failures
WHERE token_number = $token_number
  AND start_ns >= $since_ns AND start_ns < $until_ns
  AND ($service IS NULL OR service_name = $service)
GROUP BY service_name, span_name, error_kind
ORDER BY n DESC, last_ns DESC, service_name, span_name, error_kind
LIMIT $limit OFFSET $offset
