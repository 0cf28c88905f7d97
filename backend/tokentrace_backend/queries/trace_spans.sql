-- All spans of one trace with the token each belongs to.
SELECT
    trace_id, span_id, parent_span_id, service_name, service_version, name, kind, start_ns,
    duration_ns, status_code, status_message, http_method, http_route, http_status, url_path,
    client_address, user_agent, peer_service, db_system, server_address, messaging_system,
    token_id, linked_token_id, auth_outcome, error_type, error_message,
    attributes::VARCHAR AS attributes, events::VARCHAR AS events
FROM linked_spans
ORDER BY start_ns, span_id
