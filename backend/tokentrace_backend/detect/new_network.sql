-- new_network: a client address outside every /24 (IPv4) or /48 (IPv6) the token was used
-- from in its baseline window, once the token has history enough: in the profiles, or
-- earlier in the chunk (by hour; run before the chunk enters the profiles).
INSERT INTO detect_raw
WITH used AS (
    SELECT
        r.token_id,
        n.network,
        min(r.start_ns) AS first_ns,
        max(r.start_ns) AS last_ns,
        count(*) AS requests,
        min_by(lower(hex(r.trace_id)), r.start_ns, $evidence_traces) AS trace_ids,
        min_by(r.client_address, r.start_ns, 5) AS addresses,
        min_by(r.user_agent, r.start_ns, 3) AS user_agents,
        min_by(n.country, r.start_ns) AS country
    FROM detect_requests AS r
    JOIN detect_networks AS n ON n.client_address = r.client_address
    GROUP BY r.token_id, n.network
),
unseen AS (
    SELECT u.*
    FROM used AS u
    WHERE NOT EXISTS (
        SELECT 1 FROM token_clients AS c
        WHERE c.token_id = u.token_id AND c.network = u.network
          AND c.hour >= u.first_ns // 3600000000000 - $baseline_hours
    )
),
new AS (  -- first uses by a token with history enough before them (detect_history)
    SELECT u.*, y.token_first_ns
    FROM unseen AS u
    JOIN detect_history AS y ON y.token_id = u.token_id AND y.hour = u.first_ns // 3600000000000
    WHERE u.first_ns - y.token_first_ns >= $min_history_ns
      AND y.requests_before >= $min_history_requests
),
known AS (  -- the networks used before each new one: in the profiles, or earlier in the chunk
    SELECT n.token_id, n.network, list(DISTINCT k.network) AS networks
    FROM new AS n
    JOIN (
        SELECT token_id, network, hour * 3600000000000 AS first_ns FROM token_clients
        WHERE token_id IN (SELECT token_id FROM new) AND network <> ''
        UNION ALL
        SELECT token_id, network, first_ns FROM used
        WHERE token_id IN (SELECT token_id FROM new)
    ) AS k ON k.token_id = n.token_id AND k.first_ns < n.first_ns AND k.network <> n.network
    GROUP BY n.token_id, n.network
)
SELECT
    'new_network',
    n.token_id,
    n.addresses[1],
    n.network,
    'medium',
    format(
        'used from {}{} ({} requests), outside the {} network(s) it was used from in {} days',
        n.addresses[1], coalesce(' in ' || n.country, ''), n.requests, len(coalesce(k.networks, [])),
        (n.first_ns - n.token_first_ns) // 86400000000000
    ),
    to_json({
        'known_networks': list_slice(list_sort(coalesce(k.networks, [])), 1, 10),
        'known_network_count': len(coalesce(k.networks, [])),
        'window_days': $baseline_days
    }),
    to_json({
        'trace_ids': n.trace_ids,
        'counts': {'requests': n.requests},
        'address': n.addresses[1],
        'network': n.network,
        'country': n.country,
        'addresses': list_distinct(n.addresses),
        'user_agents': list_distinct(list_filter(n.user_agents, lambda a: a <> ''))
    }),
    n.first_ns,
    n.last_ns
FROM new AS n
LEFT JOIN known AS k ON k.token_id = n.token_id AND k.network = n.network
