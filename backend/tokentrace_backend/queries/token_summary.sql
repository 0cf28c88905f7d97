-- One token's summary in one statement, from its requests, calls and lifecycle rows.
WITH requests AS MATERIALIZED (
    SELECT *
    FROM token_requests
    WHERE token_number = $token_number
      AND start_ns >= $since_ns AND start_ns < $until_ns
      AND ($service IS NULL OR service_name = $service)
      AND ($outcome IS NULL OR auth_outcome = $outcome)
),
calls AS MATERIALIZED (
    SELECT target, failed
    FROM token_calls
    WHERE token_number = $token_number
      AND target_kind = 'service'
      AND start_ns >= $since_ns AND start_ns < $until_ns
),
services AS (
    SELECT service_name AS service, count(*) AS n, count(*) FILTER (WHERE failed) AS errors
    FROM (
        SELECT service_name, failed FROM requests
        UNION ALL
        SELECT target, failed FROM calls
    )
    GROUP BY service_name
),
lifecycle AS (
    SELECT at_ns, source, trace_id, event, token_id, new_token_id, actor, expires_ns,
        'token' AS role
    FROM token_lifecycle
    WHERE token_id = $token_id
    UNION ALL
    SELECT at_ns, source, trace_id, event, token_id, new_token_id, actor, expires_ns,
        'new_token'
    FROM token_lifecycle
    WHERE new_token_id = $token_id
)
SELECT
    (SELECT min(start_ns) FROM requests) AS first_seen_ns,
    (SELECT max(start_ns) FROM requests) AS last_seen_ns,
    (SELECT count(*) FROM requests) AS requests,
    (SELECT list({'outcome': auth_outcome, 'requests': n} ORDER BY n DESC, auth_outcome)
        FROM (SELECT auth_outcome, count(*) AS n FROM requests GROUP BY auth_outcome)) AS outcomes,
    (SELECT list({
            'service': service_name, 'method': http_method, 'route': http_route,
            'requests': n, 'errors': errors, 'denied': denied, 'p95_us': p95_us
        } ORDER BY n DESC, service_name, http_route)
        FROM (
            SELECT service_name, http_method, http_route, count(*) AS n,
                count(*) FILTER (WHERE failed) AS errors,
                count(*) FILTER (WHERE auth_outcome <> 'success') AS denied,
                quantile_cont(duration_us, 0.95) AS p95_us
            FROM requests GROUP BY ALL
        )) AS routes,
    (SELECT list({
            'address': client_address, 'user_agent': user_agent, 'requests': n,
            'first_ns': first_ns, 'last_ns': last_ns
        } ORDER BY n DESC, client_address, user_agent)
        FROM (
            SELECT client_address, user_agent, count(*) AS n,
                min(start_ns) AS first_ns, max(start_ns) AS last_ns
            FROM requests GROUP BY ALL
        )) AS clients,
    (SELECT list({'service': service, 'calls': n, 'errors': errors} ORDER BY n DESC, service)
        FROM services) AS services,
    (SELECT quantile_cont(duration_us, [0.5, 0.95, 0.99]) FROM requests) AS latency_us,
    (SELECT max(duration_us) FROM requests) AS max_us,
    (SELECT list({
            'event': event, 'at_ns': at_ns, 'source': source, 'role': role,
            'token_id': token_id, 'new_token_id': new_token_id, 'actor': actor,
            'expires_ns': expires_ns, 'trace_id': trace_id
        } ORDER BY at_ns, source, role, event) FROM lifecycle) AS lifecycle,
    -- all time, whatever the window: the lifecycle's state (macro of migration 108)
    lifecycle_rotated_still_used(
        (SELECT min(at_ns) FROM lifecycle
            WHERE role = 'token' AND list_contains($retiring_events, event)),
        (SELECT max(start_ns) FROM token_requests WHERE token_number = $token_number),
        $now_ns, $in_use_ns
    ) AS rotated_still_used
