-- A rule's pending deliveries in the order they were recorded, each with what it is about
-- as it is now: its finding (NULL columns when the finding was deleted or the delivery is
-- of a lifecycle state), in the order Finding.from_row reads (alerts/findings.py), then its
-- lifecycle alert (NULL columns for a finding), in the order LifecycleAlert.from_row reads
-- (alerts/lifecycle.py).
SELECT
    a.source,
    a.source_id,
    a.attempts,
    f.id,
    f.kind,
    f.token_id,
    d.owner,
    f.client_address,
    f.subject,
    f.severity,
    f.state,
    f.summary,
    f.baseline,
    f.evidence,
    f.first_ns,
    f.last_ns,
    f.detected_at_ns,
    f.updated_at_ns,
    l.id,
    l.token_id,
    l.state,
    l.owner,
    l.name,
    l.on_ns,
    l.details
FROM alert_deliveries AS a
LEFT JOIN findings AS f ON a.source = 'finding' AND f.id = a.source_id
LEFT JOIN token_dim AS d ON d.token_id = f.token_id
LEFT JOIN alert_lifecycle AS l ON a.source = 'lifecycle' AND l.id = a.source_id
WHERE a.rule_name = $rule_name AND a.status = 'pending'
ORDER BY a.queued_at_ns, a.source, a.source_id
LIMIT $limit
