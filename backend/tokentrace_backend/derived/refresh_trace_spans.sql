-- The spans a refresh slice links: every span of the slice's batches, and the spans of
-- their traces kept in the link state from earlier slices (their earlier token, if any, is
-- `prior_token_id`). Nothing else of `spans` is read: the state holds what can still
-- matter (see storage/schema/103_link_state.sql). Only the columns linking and the linked
-- statements (failures, calls, the link state) use are carried; what needs a span's own
-- token only (requests, token metadata, lifecycle) reads `spans` by batch directly.
slice_spans AS (
    SELECT
        trace_id, span_id, parent_span_id, service_name, name, kind, start_ns, duration_ns,
        status_code, status_message, http_status, peer_service, db_system, server_address,
        messaging_system, token_id, error_type, error_message, batch_id
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
