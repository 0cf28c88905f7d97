-- shared_token: one token used from many more distinct networks or user agents in an hour
-- than it is in its baseline hours (shared between clients, or leaked).
INSERT INTO detect_raw
WITH touched AS (
    SELECT DISTINCT h.token_id, h.hour, h.first_ns, h.last_ns
    FROM detect_hours AS h
    JOIN detect_profiles AS p ON p.token_id = h.token_id
    WHERE h.requests > 0 AND p.active_hours > $min_baseline_hours
),
counted AS (
    SELECT c.token_id, c.hour,
           any_value(t.first_ns) AS first_ns, any_value(t.last_ns) AS last_ns,
           count(DISTINCT c.network) FILTER (WHERE c.network <> '') AS networks,
           count(DISTINCT c.user_agent) FILTER (WHERE c.user_agent <> '') AS agents,
           list_slice(list(DISTINCT c.network) FILTER (WHERE c.network <> ''), 1, 10) AS network_list,
           list_slice(list(DISTINCT c.user_agent) FILTER (WHERE c.user_agent <> ''), 1, 5) AS agent_list
    FROM token_clients AS c
    JOIN touched AS t ON t.token_id = c.token_id AND t.hour = c.hour
    GROUP BY c.token_id, c.hour
    HAVING count(DISTINCT c.network) >= $shared_min_clients
        OR count(DISTINCT c.user_agent) >= $shared_min_clients
),
history AS (
    SELECT b.token_id, b.hour,
           count(DISTINCT b.network) FILTER (WHERE b.network <> '') AS networks,
           count(DISTINCT b.user_agent) FILTER (WHERE b.user_agent <> '') AS agents
    FROM token_clients AS b
    WHERE b.token_id IN (SELECT token_id FROM counted)
    GROUP BY b.token_id, b.hour
),
judged AS (
    SELECT c.*,
           quantile_cont(h.networks, 0.95) AS p95_networks,
           quantile_cont(h.agents, 0.95) AS p95_agents,
           median(h.networks) AS median_networks,
           median(h.agents) AS median_agents,
           count(h.hour) AS hours
    FROM counted AS c
    JOIN history AS h
      ON h.token_id = c.token_id AND h.hour < c.hour AND h.hour >= c.hour - $baseline_hours
    GROUP BY ALL
)
SELECT
    'shared_token',
    token_id,
    NULL,
    '',
    'high',
    format(
        'used from {} networks and {} user agents in the hour from {} UTC, against at most {:.0f} networks and {:.0f} user agents per hour before (95th percentile)',
        networks, agents, strftime(make_timestamp(hour * 3600000000), '%Y-%m-%d %H:00'),
        p95_networks, p95_agents
    ),
    to_json({'median_networks_per_hour': median_networks, 'p95_networks_per_hour': p95_networks,
             'median_user_agents_per_hour': median_agents, 'p95_user_agents_per_hour': p95_agents,
             'active_hours': hours, 'window_days': $baseline_days}),
    to_json({
        'trace_ids': (
            SELECT min_by(lower(hex(r.trace_id)), r.start_ns, $evidence_traces)
            FROM detect_requests AS r WHERE r.token_id = judged.token_id AND r.hour = judged.hour
        ),
        'counts': {'networks': networks, 'user_agents': agents},
        'networks': network_list,
        'user_agents': agent_list,
        'hour': strftime(make_timestamp(hour * 3600000000), '%Y-%m-%dT%H:00:00Z')
    }),
    first_ns,
    last_ns
FROM judged
WHERE hours >= $min_baseline_hours
  AND (
      (networks >= $shared_min_clients AND networks >= $shared_factor * greatest(p95_networks, 1))
      OR (agents >= $shared_min_clients AND agents >= $shared_factor * greatest(p95_agents, 1))
  )
