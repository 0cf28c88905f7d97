-- Dependency calls. A cross-service pair (CLIENT/PRODUCER parent, SERVER/CONSUMER child in
-- another service) is derived when the later of its two spans arrives; a CLIENT/PRODUCER
-- span without such a child becomes a call to a database / messaging system / remote peer
-- (peer.service, then db.system, messaging.system, server.address). Latency is the
-- caller's; a call failed when either side failed. Kept in a temp table for the two
-- inserts that follow (token_calls and call_minutes).
CREATE OR REPLACE TEMP TABLE refresh_new_calls AS
WITH callers AS (
    SELECT * FROM refresh_linked WHERE kind IN (3, 4)
),
cross_service AS (
    SELECT
        parent.linked_token_id,
        parent.start_ns,
        parent.service_name AS source,
        child.service_name AS target,
        'service' AS target_kind,
        parent.duration_ns,
        parent.failed OR child.failed AS failed,
        parent.trace_id,
        parent.span_id AS parent_span_id,
        greatest(parent.batch_id, child.batch_id) AS batch_id
    FROM refresh_linked AS child
    JOIN callers AS parent
        ON parent.trace_id = child.trace_id AND parent.span_id = child.parent_span_id
    WHERE child.kind IN (2, 5) AND parent.service_name <> child.service_name
),
remote_calls AS (
    SELECT
        c.linked_token_id,
        c.start_ns,
        c.service_name AS source,
        coalesce(c.peer_service, c.db_system, c.messaging_system, c.server_address) AS target,
        CASE
            WHEN c.db_system IS NOT NULL THEN 'database'
            WHEN c.messaging_system IS NOT NULL THEN 'messaging'
            ELSE 'remote'
        END AS target_kind,
        c.duration_ns,
        c.failed,
        c.batch_id
    FROM callers AS c
    ANTI JOIN cross_service AS x ON x.trace_id = c.trace_id AND x.parent_span_id = c.span_id
    WHERE coalesce(c.peer_service, c.db_system, c.messaging_system, c.server_address) IS NOT NULL
),
calls AS (
    SELECT linked_token_id, start_ns, source, target, target_kind, duration_ns, failed, batch_id
    FROM cross_service
    UNION ALL
    SELECT linked_token_id, start_ns, source, target, target_kind, duration_ns, failed, batch_id
    FROM remote_calls
)
SELECT
    d.token_number,
    c.start_ns,
    c.source,
    c.target,
    c.target_kind,
    least(c.duration_ns // 1000, 4294967295)::UINTEGER AS duration_us,
    c.failed
FROM calls AS c
LEFT JOIN token_dim AS d ON d.token_id = c.linked_token_id
WHERE c.batch_id > $from_batch
