-- The spans a refresh slice links: every span of the slice's batches, and the spans of
-- their traces kept in the link state from earlier slices (their earlier token, if any, is
-- `prior_token_id`). Nothing else of `spans` is read: the state holds what can still
-- matter (see storage/schema/103_link_state.sql). Only the columns the derived tables and
-- the slice's consumers use are carried; the attributes JSON only of requests (SERVER
-- spans with an auth outcome) and lifecycle spans.
slice_spans AS MATERIALIZED (
    SELECT
        trace_id, span_id, parent_span_id, service_name, name, kind, start_ns, duration_ns,
        status_code, status_message, http_method, http_route, http_status, client_address,
        user_agent, peer_service, db_system, server_address, messaging_system, token_id,
        token_key_id, auth_outcome, token_owner, token_name, error_type, error_message,
        CASE
            WHEN (kind = 2 AND auth_outcome IS NOT NULL) OR name = 'tokentrace.lifecycle'
            THEN attributes
        END AS attributes,
        batch_id
    FROM spans
    WHERE batch_id > $from_batch AND batch_id <= $to_batch
),
trace_spans AS MATERIALIZED (
    SELECT *, token_id AS known_token_id, NULL::VARCHAR AS prior_token_id
    FROM slice_spans
    UNION ALL BY NAME
    SELECT
        l.* EXCLUDE (linked_token_id),
        coalesce(l.token_id, l.linked_token_id) AS known_token_id,
        l.linked_token_id AS prior_token_id
    FROM link_spans AS l
    SEMI JOIN slice_spans AS s ON l.trace_id = s.trace_id
)
