-- A page of audit records (GET /api/audit), by seq. A token's records are those whose
-- token_id is it; an erased token's records hold its redacted digest instead.
SELECT seq, at_ns, kind, token_id, body, prev_hash, hash
FROM audit_records
WHERE ($token_id IS NULL OR token_id = $token_id)
  AND ($kind IS NULL OR kind = $kind)
  AND at_ns >= $since_ns AND at_ns < $until_ns
ORDER BY seq
LIMIT $limit OFFSET $offset
