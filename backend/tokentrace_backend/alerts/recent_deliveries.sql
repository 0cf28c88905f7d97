-- The latest deliveries for GET /api/alerts, newest first, with what they are about: the
-- finding's kind, severity and token, or the lifecycle state and its token.
SELECT
    a.rule_name,
    a.source,
    a.source_id,
    f.kind,
    f.severity,
    l.state,
    coalesce(f.token_id, l.token_id) AS token_id,
    a.status,
    a.attempts,
    a.http_status,
    a.last_error,
    a.queued_at_ns,
    a.updated_at_ns
FROM alert_deliveries AS a
LEFT JOIN findings AS f ON a.source = 'finding' AND f.id = a.source_id
LEFT JOIN alert_lifecycle AS l ON a.source = 'lifecycle' AND l.id = a.source_id
ORDER BY a.queued_at_ns DESC, a.source, a.source_id DESC, a.rule_name
LIMIT $limit
