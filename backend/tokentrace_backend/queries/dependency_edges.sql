-- Dependency edges over a `scope` CTE of spans (the statement so far defines it):
--   * service -> service from parent/child pairs that cross services, the parent a CLIENT
--     or PRODUCER span, the child a SERVER or CONSUMER span; latency is the caller's
--     (client span) duration, an edge call fails when either side failed;
--   * service -> database / messaging system / remote peer from CLIENT or PRODUCER spans
--     that have no instrumented child in another service (peer.service, then
--     db.system.name/db.system, messaging.system, server.address names the node).
, callers AS MATERIALIZED (
    SELECT trace_id, span_id, service_name, duration_ns, failed,
        peer_service, db_system, messaging_system, server_address
    FROM scope
    WHERE kind IN (3, 4)
),
cross_service AS MATERIALIZED (
    SELECT
        parent.service_name AS source,
        child.service_name AS target,
        parent.duration_ns,
        parent.failed OR child.failed AS failed,
        parent.trace_id,
        parent.span_id AS parent_span_id
    FROM scope AS child
    JOIN callers AS parent
        ON parent.trace_id = child.trace_id AND parent.span_id = child.parent_span_id
    WHERE child.kind IN (2, 5)
      AND parent.service_name <> child.service_name
),
remote_calls AS (
    SELECT
        c.service_name AS source,
        coalesce(c.peer_service, c.db_system, c.messaging_system, c.server_address) AS target,
        CASE
            WHEN c.db_system IS NOT NULL THEN 'database'
            WHEN c.messaging_system IS NOT NULL THEN 'messaging'
            ELSE 'remote'
        END AS target_kind,
        c.duration_ns,
        c.failed
    FROM callers AS c
    ANTI JOIN cross_service AS x ON x.trace_id = c.trace_id AND x.parent_span_id = c.span_id
    WHERE coalesce(c.peer_service, c.db_system, c.messaging_system, c.server_address) IS NOT NULL
),
edges AS (
    SELECT source, target, 'service' AS target_kind, duration_ns, failed FROM cross_service
    UNION ALL
    SELECT source, target, target_kind, duration_ns, failed FROM remote_calls
)
-- The edges, then one row per service of the scope with a NULL target (the node list).
SELECT * FROM (
    SELECT
        source,
        target,
        target_kind,
        count(*) AS calls,
        count(*) FILTER (WHERE failed) AS errors,
        quantile_cont(duration_ns, 0.95) AS p95_ns
    FROM edges
    WHERE $service IS NULL OR source = $service OR target = $service
    GROUP BY source, target, target_kind
    ORDER BY calls DESC, source, target
)
UNION ALL
SELECT DISTINCT service_name, NULL, 'service', 0, 0, NULL
FROM scope
WHERE $service IS NULL OR service_name = $service
