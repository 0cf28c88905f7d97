-- One token's summary in one statement (one scan of its own spans). Window-bound parts
-- use `in_window`; lifecycle and the "still used after rotation" check look at all time.
WITH own AS MATERIALIZED (
    SELECT
        service_name, name, kind, start_ns, duration_ns, http_method, http_route,
        client_address, user_agent, token_key_id, token_owner, token_name, auth_outcome,
        attributes, trace_id,
        (kind = 2 AND auth_outcome IS NOT NULL) AS is_request,
        (status_code = 2 OR (kind = 2 AND http_status >= 500)) AS failed,
        (start_ns >= $since_ns AND start_ns < $until_ns
            AND ($service IS NULL OR service_name = $service)
            AND ($outcome IS NULL OR auth_outcome = $outcome)) AS in_window
    FROM spans
    WHERE token_id = $token_id
),
requests AS (
    SELECT * FROM own WHERE is_request AND in_window
),
lifecycle AS (
    SELECT
        start_ns,
        trace_id,
        json_extract_string(attributes, '$."tokentrace.lifecycle.event"') AS event,
        $token_id AS token_id,
        json_extract_string(attributes, '$."tokentrace.lifecycle.new_token_id"') AS new_token_id,
        json_extract_string(attributes, '$."tokentrace.lifecycle.actor"') AS actor,
        'token' AS role
    FROM own
    WHERE name = 'tokentrace.lifecycle'
    UNION ALL
    SELECT
        start_ns,
        trace_id,
        json_extract_string(attributes, '$."tokentrace.lifecycle.event"'),
        token_id,
        $token_id,
        json_extract_string(attributes, '$."tokentrace.lifecycle.actor"'),
        'new_token'
    FROM spans
    WHERE name = 'tokentrace.lifecycle'
      AND json_extract_string(attributes, '$."tokentrace.lifecycle.new_token_id"') = $token_id
)
SELECT
    (SELECT count(*) FROM own) AS spans_all_time,
    (SELECT list(DISTINCT token_key_id ORDER BY token_key_id)
        FROM own WHERE token_key_id IS NOT NULL) AS key_ids,
    (SELECT arg_max(token_owner, start_ns) FROM own WHERE token_owner IS NOT NULL) AS owner,
    (SELECT arg_max(token_name, start_ns) FROM own WHERE token_name IS NOT NULL) AS token_name,
    (SELECT min(start_ns) FROM own WHERE in_window) AS first_seen_ns,
    (SELECT max(start_ns) FROM own WHERE in_window) AS last_seen_ns,
    (SELECT count(*) FROM requests) AS requests,
    (SELECT list({'outcome': auth_outcome, 'requests': n} ORDER BY n DESC, auth_outcome)
        FROM (SELECT auth_outcome, count(*) AS n FROM requests GROUP BY auth_outcome)) AS outcomes,
    (SELECT list({
            'service': service_name, 'method': http_method, 'route': http_route,
            'requests': n, 'errors': errors, 'denied': denied, 'p95_ns': p95_ns
        } ORDER BY n DESC, service_name, http_route)
        FROM (
            SELECT service_name, http_method, http_route, count(*) AS n,
                count(*) FILTER (WHERE failed) AS errors,
                count(*) FILTER (WHERE auth_outcome <> 'success') AS denied,
                quantile_cont(duration_ns, 0.95) AS p95_ns
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
    (SELECT quantile_cont(duration_ns, [0.5, 0.95, 0.99]) FROM requests) AS latency_ns,
    (SELECT max(duration_ns) FROM requests) AS max_ns,
    (SELECT list({
            'event': event, 'start_ns': start_ns, 'role': role, 'token_id': token_id,
            'new_token_id': new_token_id, 'actor': actor, 'trace_id': trace_id
        } ORDER BY start_ns) FROM lifecycle) AS lifecycle,
    (SELECT max(start_ns) FROM own WHERE is_request) AS last_request_ns_all_time
