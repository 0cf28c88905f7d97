-- The (token, state) pairs that turned on at the evaluation of $now_ns
-- (alerts/delivery_log.py: record_lifecycle_changes), with their token's owner and name and
-- the facts their alerts quote. Returns their ids.
INSERT INTO alert_lifecycle (token_id, state, on_ns, owner, name, details)
SELECT token_id, state, $now_ns, owner, name, CAST(details AS JSON)
FROM (
    SELECT
        unnest($token_ids) AS token_id,
        unnest($states) AS state,
        unnest($owners::VARCHAR[]) AS owner,
        unnest($names::VARCHAR[]) AS name,
        unnest($details) AS details
)
RETURNING id, token_id, state
