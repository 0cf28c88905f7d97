-- The (token, state) pairs that turned on at the evaluation of $now_ns
-- (alerts/delivery_log.py: record_lifecycle_changes), with their token's owner and name and
-- the facts their alerts quote. The i-th pair (from 1) gets the id $base + i: the caller
-- read $base (the largest id in use) in the same transaction, and knows the ids without
-- RETURNING (DuckLake, lake mode, has neither RETURNING nor sequences). Safe because one
-- thread alone inserts them, the alert dispatcher's.
INSERT INTO alert_lifecycle (id, token_id, state, on_ns, owner, name, details)
SELECT $base + position, token_id, state, $now_ns, owner, name, CAST(details AS JSON)
FROM (
    SELECT
        unnest(range(1, len($token_ids) + 1)) AS position,
        unnest($token_ids) AS token_id,
        unnest($states) AS state,
        unnest($owners::VARCHAR[]) AS owner,
        unnest($names::VARCHAR[]) AS name,
        unnest($details) AS details
)
ORDER BY position
