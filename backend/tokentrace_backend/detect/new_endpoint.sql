-- new_endpoint: a method + route the token did not use in its baseline window, once the
-- token has history enough: in the profiles, or earlier in the chunk (by hour; run
-- before the chunk enters the profiles).
INSERT INTO detect_raw
WITH used AS (
    SELECT
        token_id,
        endpoint,
        min(start_ns) AS first_ns,
        max(start_ns) AS last_ns,
        count(*) AS requests,
        min_by(lower(hex(trace_id)), start_ns, $evidence_traces) AS trace_ids,
        min_by(client_address, start_ns, 5) AS addresses
    FROM detect_requests
    GROUP BY token_id, endpoint
),
unseen AS (
    SELECT u.*
    FROM used AS u
    WHERE NOT EXISTS (
        SELECT 1 FROM token_endpoints AS e
        WHERE e.token_id = u.token_id AND e.endpoint = u.endpoint
          AND e.day >= (u.first_ns - $baseline_ns) // 86400000000000
    )
),
new AS (  -- first uses by a token with history enough before them (detect_history)
    SELECT u.*, y.token_first_ns
    FROM unseen AS u
    JOIN detect_history AS y ON y.token_id = u.token_id AND y.hour = u.first_ns // 3600000000000
    WHERE u.first_ns - y.token_first_ns >= $min_history_ns
      AND y.requests_before >= $min_history_requests
),
known AS (  -- the endpoints used before each new one: in the profiles, or earlier in the chunk
    SELECT n.token_id, n.endpoint, count(DISTINCT k.endpoint) AS endpoints,
           list(DISTINCT k.endpoint) AS top
    FROM new AS n
    JOIN (
        SELECT token_id, endpoint, day * 86400000000000 AS first_ns FROM token_endpoints
        WHERE token_id IN (SELECT token_id FROM new)
        UNION ALL
        SELECT token_id, endpoint, first_ns FROM used
        WHERE token_id IN (SELECT token_id FROM new)
    ) AS k ON k.token_id = n.token_id AND k.first_ns < n.first_ns AND k.endpoint <> n.endpoint
    GROUP BY n.token_id, n.endpoint
)
SELECT
    'new_endpoint',
    n.token_id,
    NULL,
    n.endpoint,
    'medium',
    format(
        '{} called for the first time ({} requests); in its {} days of history the token used {} other endpoints',
        n.endpoint, n.requests, (n.first_ns - n.token_first_ns) // 86400000000000,
        coalesce(k.endpoints, 0)
    ),
    to_json({
        'known_endpoints': coalesce(k.endpoints, 0),
        'examples': list_slice(list_sort(coalesce(k.top, [])), 1, 5),
        'window_days': $baseline_days
    }),
    to_json({
        'trace_ids': n.trace_ids,
        'counts': {'requests': n.requests},
        'route': n.endpoint,
        'addresses': list_distinct(list_filter(n.addresses, lambda a: a IS NOT NULL))
    }),
    n.first_ns,
    n.last_ns
FROM new AS n
LEFT JOIN known AS k ON k.token_id = n.token_id AND k.endpoint = n.endpoint
