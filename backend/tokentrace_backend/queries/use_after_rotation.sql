-- What used some tokens after their rotation (queries/lifecycle_states.py): for each
-- $token_numbers[i], rotated or revoked at $retired_ns[i], the requests after that, the
-- last of them, and the clients (address and user agent) that sent them, latest first,
-- $max_clients at most: the rotation of one token's lifecycle (queries/lifecycle.sql),
-- for the tokens that have just entered rotated_still_used.
WITH retired AS (
    SELECT unnest($token_numbers) AS token_number, unnest($retired_ns) AS retired_ns
),
after_retirement AS MATERIALIZED (
    SELECT r.token_number, q.start_ns, q.client_address, q.user_agent
    FROM retired AS r
    JOIN token_requests AS q ON q.token_number = r.token_number AND q.start_ns > r.retired_ns
),
use_after AS (
    SELECT token_number, count(*) AS requests_after, max(start_ns) AS last_used_after_ns
    FROM after_retirement
    GROUP BY token_number
),
clients AS (
    SELECT
        token_number,
        list({
            'address': client_address, 'user_agent': user_agent, 'requests': n,
            'last_ns': last_ns
        } ORDER BY last_ns DESC, client_address, user_agent)[1:$max_clients] AS clients
    FROM (
        SELECT token_number, client_address, user_agent, count(*) AS n, max(start_ns) AS last_ns
        FROM after_retirement
        GROUP BY ALL
    )
    GROUP BY token_number
)
SELECT r.token_number, coalesce(u.requests_after, 0), u.last_used_after_ns, c.clients
FROM retired AS r
LEFT JOIN use_after AS u ON u.token_number = r.token_number
LEFT JOIN clients AS c ON c.token_number = r.token_number
ORDER BY r.token_number
