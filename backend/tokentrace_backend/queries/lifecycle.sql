-- One token's lifecycle in one statement: its events (both sources, both roles), its known
-- expiry, its use, its use after the first rotated or revoked event about it, and the states
-- all that implies at $now_ns (the lifecycle_* macros of migration 108, which the states of
-- every token, queries/lifecycle_states.sql, use too).
WITH dim AS (
    SELECT token_number, expires_ns, first_ns FROM token_dim WHERE token_id = $token_id
),
requests AS MATERIALIZED (
    SELECT start_ns, client_address, user_agent
    FROM token_requests
    WHERE token_number = (SELECT token_number FROM dim)
),
events AS MATERIALIZED (
    SELECT at_ns, source, event, token_id, new_token_id, actor, expires_ns, trace_id,
        'token' AS role
    FROM token_lifecycle
    WHERE token_id = $token_id
    UNION ALL
    SELECT at_ns, source, event, token_id, new_token_id, actor, expires_ns, trace_id,
        'new_token'
    FROM token_lifecycle
    WHERE new_token_id = $token_id
),
retirement AS (
    SELECT at_ns, source, event, new_token_id
    FROM events
    WHERE role = 'token' AND list_contains($retiring_events, event)
    ORDER BY at_ns, source, event
    LIMIT 1
),
after_retirement AS MATERIALIZED (
    SELECT * FROM requests WHERE start_ns > (SELECT at_ns FROM retirement)
),
facts AS (
    SELECT
        EXISTS (SELECT 1 FROM dim) OR EXISTS (SELECT 1 FROM events) AS known,
        -- token_dim's when the token has spans (what the detectors read), else its events'
        CASE
            WHEN EXISTS (SELECT 1 FROM dim) THEN (SELECT expires_ns FROM dim)
            ELSE known_expiry_ns(NULL, $token_id)
        END AS expires_ns,
        (SELECT min(start_ns) FROM requests) AS first_used_ns,
        (SELECT max(start_ns) FROM requests) AS last_used_ns,
        (SELECT min(at_ns) FROM events) AS first_event_ns,
        (SELECT first_ns FROM dim) AS first_span_ns,
        (SELECT at_ns FROM retirement) AS retired_ns,
        EXISTS (SELECT 1 FROM events WHERE role = 'token' AND event = 'revoked') AS revoked
)
SELECT
    known,
    expires_ns,
    first_used_ns,
    last_used_ns,
    lifecycle_expired(expires_ns, $now_ns) AS expired,
    lifecycle_expiring_soon(last_used_ns, expires_ns, $now_ns, $in_use_ns, $expiring_ns)
        AS expiring_soon,
    lifecycle_rotated_still_used(retired_ns, last_used_ns, $now_ns, $in_use_ns)
        AS rotated_still_used,
    lifecycle_stale(
        revoked, expires_ns, last_used_ns,
        least(first_used_ns, first_event_ns, first_span_ns), $now_ns, $stale_ns
    ) AS stale,
    (SELECT list({'address': client_address, 'requests': n, 'last_ns': last_ns}
            ORDER BY last_ns DESC, client_address)
        FROM (
            SELECT client_address, count(*) AS n, max(start_ns) AS last_ns
            FROM requests GROUP BY client_address
            ORDER BY last_ns DESC, client_address LIMIT $max_addresses
        )) AS last_addresses,
    (SELECT {'at_ns': at_ns, 'source': source, 'event': event, 'new_token_id': new_token_id}
        FROM retirement) AS retirement,
    (SELECT count(*) FROM after_retirement) AS requests_after,
    (SELECT max(start_ns) FROM after_retirement) AS last_used_after_ns,
    (SELECT list({
            'address': client_address, 'user_agent': user_agent, 'requests': n,
            'last_ns': last_ns
        } ORDER BY last_ns DESC, client_address, user_agent)
        FROM (
            SELECT client_address, user_agent, count(*) AS n, max(start_ns) AS last_ns
            FROM after_retirement GROUP BY ALL
            ORDER BY last_ns DESC, client_address, user_agent LIMIT $max_clients
        )) AS clients_after,
    (SELECT list({
            'event': event, 'at_ns': at_ns, 'source': source, 'role': role,
            'token_id': token_id, 'new_token_id': new_token_id, 'actor': actor,
            'expires_ns': expires_ns, 'trace_id': trace_id
        } ORDER BY at_ns, source, role, event) FROM events) AS events
FROM facts
