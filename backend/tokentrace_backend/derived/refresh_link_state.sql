-- Keep in the link state what later slices may still need of the traces this slice
-- touched (their rows in the state, the slice's spans of earlier batches, are replaced): spans without a token of their own (they parent later
-- untagged spans, or wait for a tagged ancestor), CLIENT/PRODUCER spans whose
-- SERVER/CONSUMER child has not arrived (but not database clients: no instrumented server
-- answers them), and SERVER/CONSUMER spans whose parent has not arrived.
DELETE FROM link_spans
WHERE trace_id IN (SELECT trace_id FROM refresh_linked WHERE batch_id <= $from_batch);
INSERT INTO link_spans
SELECT
    r.trace_id, r.span_id, r.parent_span_id, r.service_name, r.name, r.kind, r.start_ns,
    r.duration_ns, r.status_code, r.status_message, r.http_status, r.peer_service,
    r.db_system, r.server_address, r.messaging_system, r.token_id, r.linked_token_id,
    r.error_type, r.error_message, r.batch_id
FROM refresh_linked AS r
WHERE r.token_id IS NULL
    OR (
        r.kind IN (3, 4) AND r.db_system IS NULL
        AND NOT EXISTS (
            SELECT 1 FROM refresh_linked AS child
            WHERE child.trace_id = r.trace_id AND child.parent_span_id = r.span_id
              AND child.kind IN (2, 5)
        )
    )
    OR (
        r.kind IN (2, 5) AND r.parent_span_id IS NOT NULL
        AND NOT EXISTS (
            SELECT 1 FROM refresh_linked AS parent
            WHERE parent.trace_id = r.trace_id AND parent.span_id = r.parent_span_id
        )
    );
-- Rows that arrived longer ago than the link window are dropped.
DELETE FROM link_spans WHERE batch_id <= $expire_through_batch
