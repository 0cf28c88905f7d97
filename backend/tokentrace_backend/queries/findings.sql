-- The findings matching the filters, most recently updated first (one page).
SELECT
    id, kind, token_id, client_address, subject, severity, state, summary,
    CAST(baseline AS VARCHAR), CAST(evidence AS VARCHAR),
    first_ns, last_ns, detected_at_ns, updated_at_ns, state_changed_by
FROM findings
WHERE ($kind IS NULL OR kind = $kind)
  AND ($state IS NULL OR state = $state)
  AND ($token_id IS NULL OR token_id = $token_id)
  AND ($client_address IS NULL OR client_address = $client_address)
  AND list_position(['low', 'medium', 'high', 'critical'], severity) >= $min_severity_rank
  AND last_ns >= $since_ns AND first_ns < $until_ns
  AND ($finding_id IS NULL OR id = $finding_id)
ORDER BY updated_at_ns DESC, id DESC
LIMIT $limit OFFSET $offset
