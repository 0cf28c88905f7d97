-- Findings the detectors opened since the audit follower last looked (ids only grow).
SELECT id, kind, token_id, client_address, subject, severity, summary
FROM findings
WHERE id > $after
ORDER BY id
LIMIT $limit
