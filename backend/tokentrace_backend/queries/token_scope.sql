-- The spans linked to one token as the dependency scope.
, scope AS MATERIALIZED (
    SELECT
        trace_id, span_id, parent_span_id, service_name, kind, duration_ns,
        peer_service, db_system, messaging_system, server_address, failed
    FROM linked_spans
    WHERE linked_token_id = $token_id
      AND start_ns >= $since_ns AND start_ns < $until_ns
)
