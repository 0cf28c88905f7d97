-- The findings after the dispatcher's mark, oldest first, with their token's owner: what a
-- rule matches on (alerts/findings.py: FindingFacts).
SELECT f.id, f.kind, f.token_id, d.owner, f.severity, f.updated_at_ns
FROM findings AS f
LEFT JOIN token_dim AS d ON d.token_id = f.token_id
WHERE f.id > $after_id
ORDER BY f.id
LIMIT $limit
