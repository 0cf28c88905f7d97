-- A CLIENT span derived earlier as a call to a remote peer (its server side had not
-- arrived) whose instrumented server span arrives in this slice: the new service -> service
-- pair replaces the remote call, so the call is not counted twice. This selects those
-- rows; the next statements delete them and undo them in call_minutes.
CREATE OR REPLACE TEMP TABLE refresh_superseded AS
SELECT token_calls.*
FROM token_calls
JOIN (
    SELECT
        parent.start_ns,
        parent.service_name AS source,
        coalesce(
            parent.peer_service, parent.db_system, parent.messaging_system, parent.server_address
        ) AS target
    FROM refresh_linked AS child
    JOIN refresh_linked AS parent
        ON parent.trace_id = child.trace_id AND parent.span_id = child.parent_span_id
    WHERE parent.kind IN (3, 4) AND child.kind IN (2, 5)
      AND parent.service_name <> child.service_name
      AND parent.batch_id <= $from_batch AND child.batch_id > $from_batch
) AS superseded
    ON token_calls.start_ns = superseded.start_ns
    AND token_calls.source = superseded.source
    AND token_calls.target = superseded.target
WHERE token_calls.target_kind <> 'service'
