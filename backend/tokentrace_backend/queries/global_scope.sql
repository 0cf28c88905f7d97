-- Every span of the window (optionally one service's) as the dependency scope.
WITH scope AS (
    SELECT
        trace_id, span_id, parent_span_id, service_name, kind, duration_ns,
        peer_service, db_system, messaging_system, server_address,
        (status_code = 2 OR (kind = 2 AND http_status >= 500) OR error_type IS NOT NULL) AS failed
    FROM spans
    WHERE start_ns >= $since_ns AND start_ns < $until_ns
)
