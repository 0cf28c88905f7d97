-- The lifecycle states of every token at $now_ns in one statement: the tokens in at least
-- one state, with the facts their alerts quote (queries/lifecycle_states.py). The tokens and
-- their facts are those of one token's lifecycle (queries/lifecycle.sql), gathered for all
-- tokens at once by grouping; the states are the same lifecycle_* macros (migration 108).
WITH used AS (
    SELECT token_number, min(start_ns) AS first_used_ns, max(start_ns) AS last_used_ns
    FROM token_requests
    GROUP BY token_number
),
about AS (  -- the events about each token
    SELECT
        token_id,
        min(at_ns) AS first_event_ns,
        bool_or(event = 'revoked') AS revoked,
        first({'at_ns': at_ns, 'source': source, 'event': event, 'new_token_id': new_token_id}
            ORDER BY at_ns, source, event)
            FILTER (WHERE list_contains($retiring_events, event)) AS retirement
    FROM token_lifecycle
    GROUP BY token_id
),
naming AS (  -- the events naming each token as the new one
    SELECT new_token_id AS token_id, min(at_ns) AS first_event_ns
    FROM token_lifecycle
    WHERE new_token_id IS NOT NULL
    GROUP BY new_token_id
),
known AS (
    SELECT token_id FROM token_dim
    UNION SELECT token_id FROM about
    UNION SELECT token_id FROM naming
),
facts AS (
    SELECT
        k.token_id,
        d.token_number,
        d.owner,
        d.name,
        -- token_dim's when the token has spans (what the detectors read), else its events'
        CASE
            WHEN d.token_id IS NOT NULL THEN d.expires_ns
            ELSE known_expiry_ns(NULL, k.token_id)
        END AS expires_ns,
        u.last_used_ns,
        a.retirement,
        a.revoked,
        least(u.first_used_ns, a.first_event_ns, n.first_event_ns, d.first_ns) AS known_since_ns
    FROM known AS k
    LEFT JOIN token_dim AS d ON d.token_id = k.token_id
    LEFT JOIN used AS u ON u.token_number = d.token_number
    LEFT JOIN about AS a ON a.token_id = k.token_id
    LEFT JOIN naming AS n ON n.token_id = k.token_id
),
states AS (
    SELECT
        *,
        lifecycle_expiring_soon(last_used_ns, expires_ns, $now_ns, $in_use_ns, $expiring_ns)
            AS expiring_soon,
        lifecycle_rotated_still_used(retirement.at_ns, last_used_ns, $now_ns, $in_use_ns)
            AS rotated_still_used,
        lifecycle_stale(revoked, expires_ns, last_used_ns, known_since_ns, $now_ns, $stale_ns)
            AS stale
    FROM facts
)
SELECT
    token_id, token_number, owner, name, expiring_soon, rotated_still_used, stale,
    expires_ns, last_used_ns, known_since_ns, retirement
FROM states
WHERE expiring_soon OR rotated_still_used OR stale
ORDER BY token_id
