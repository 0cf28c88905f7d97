-- One token's summary over a window that reaches back before the retention boundary: its
-- requests and calls from the derived tables (rows after the boundary, and late rows not
-- rolled up yet) and from the daily roll-ups (whole UTC days from the day of $since_ns;
-- retention/), each row counted once. Counts, first/last seen and the maximum are exact;
-- quantiles are read from the merged duration histograms (log buckets, within ~5%).
WITH raw AS MATERIALIZED (
    SELECT *
    FROM token_requests
    WHERE token_number = $token_number
      AND start_ns >= $since_ns AND start_ns < $until_ns
      AND ($service IS NULL OR service_name = $service)
      AND ($outcome IS NULL OR auth_outcome = $outcome)
),
rolled AS MATERIALIZED (
    SELECT *
    FROM token_request_days
    WHERE token_number = $token_number
      AND day >= $since_ns // 86400000000000 AND day * 86400000000000 < $until_ns
      AND ($service IS NULL OR service_name = $service)
      AND ($outcome IS NULL OR auth_outcome = $outcome)
),
requests AS MATERIALIZED (
    SELECT service_name, http_method, http_route, auth_outcome, client_address, user_agent,
        failed, count(*) AS n, min(start_ns) AS first_ns, max(start_ns) AS last_ns,
        max(duration_us) AS max_us
    FROM raw GROUP BY ALL
    UNION ALL
    SELECT service_name, http_method, http_route, auth_outcome, client_address, user_agent,
        failed, requests, first_ns, last_ns, max_us
    FROM rolled
),
histogram AS MATERIALIZED (
    SELECT service_name, http_method, http_route, bucket, sum(n) AS n
    FROM (
        SELECT service_name, http_method, http_route,
            floor(8 * log2(duration_us + 1))::USMALLINT AS bucket, count(*) AS n
        FROM raw GROUP BY ALL
        UNION ALL
        SELECT service_name, http_method, http_route, entry.key, entry.value
        FROM (
            SELECT service_name, http_method, http_route,
                unnest(map_entries(duration_buckets)) AS entry
            FROM rolled
        )
    )
    GROUP BY ALL
),
route_running AS (
    SELECT *,
        sum(n) OVER (PARTITION BY service_name, http_method, http_route ORDER BY bucket)
            AS at_or_below,
        sum(n) OVER (PARTITION BY service_name, http_method, http_route) AS total
    FROM histogram
),
all_running AS (
    SELECT bucket, sum(sum(n)) OVER (ORDER BY bucket) AS at_or_below,
        sum(sum(n)) OVER () AS total
    FROM histogram GROUP BY bucket
),
calls AS MATERIALIZED (
    SELECT target, count(*) AS n, count(*) FILTER (WHERE failed) AS errors
    FROM token_calls
    WHERE token_number = $token_number
      AND target_kind = 'service'
      AND start_ns >= $since_ns AND start_ns < $until_ns
    GROUP BY target
    UNION ALL
    SELECT target, calls, errors
    FROM token_call_days
    WHERE token_number = $token_number
      AND target_kind = 'service'
      AND day >= $since_ns // 86400000000000 AND day * 86400000000000 < $until_ns
),
services AS (
    SELECT service_name AS service, sum(n)::BIGINT AS n, sum(errors)::BIGINT AS errors
    FROM (
        SELECT service_name, n, CASE WHEN failed THEN n ELSE 0 END AS errors FROM requests
        UNION ALL
        SELECT target, n, errors FROM calls
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
    (SELECT min(first_ns) FROM requests) AS first_seen_ns,
    (SELECT max(last_ns) FROM requests) AS last_seen_ns,
    (SELECT coalesce(sum(n), 0)::BIGINT FROM requests) AS requests,
    (SELECT list({'outcome': auth_outcome, 'requests': n} ORDER BY n DESC, auth_outcome)
        FROM (SELECT auth_outcome, sum(n)::BIGINT AS n FROM requests GROUP BY auth_outcome))
        AS outcomes,
    (SELECT list({
            'service': r.service_name, 'method': r.http_method, 'route': r.http_route,
            'requests': r.n, 'errors': r.errors, 'denied': r.denied,
            'p95_us': (SELECT pow(2, (min(q.bucket) + 0.5) / 8) - 1
                FROM route_running AS q
                WHERE q.service_name = r.service_name
                  AND q.http_method IS NOT DISTINCT FROM r.http_method
                  AND q.http_route IS NOT DISTINCT FROM r.http_route
                  AND q.at_or_below >= 0.95 * q.total)
        } ORDER BY r.n DESC, r.service_name, r.http_route)
        FROM (
            SELECT service_name, http_method, http_route, sum(n)::BIGINT AS n,
                coalesce(sum(n) FILTER (WHERE failed), 0)::BIGINT AS errors,
                coalesce(sum(n) FILTER (WHERE auth_outcome <> 'success'), 0)::BIGINT AS denied
            FROM requests GROUP BY ALL
        ) AS r) AS routes,
    (SELECT list({
            'address': client_address, 'user_agent': user_agent, 'requests': n,
            'first_ns': first_ns, 'last_ns': last_ns
        } ORDER BY n DESC, client_address, user_agent)
        FROM (
            SELECT client_address, user_agent, sum(n)::BIGINT AS n,
                min(first_ns) AS first_ns, max(last_ns) AS last_ns
            FROM requests GROUP BY ALL
        )) AS clients,
    (SELECT list({'service': service, 'calls': n, 'errors': errors} ORDER BY n DESC, service)
        FROM services) AS services,
    (SELECT [
            pow(2, (min(bucket) FILTER (WHERE at_or_below >= 0.5 * total) + 0.5) / 8) - 1,
            pow(2, (min(bucket) FILTER (WHERE at_or_below >= 0.95 * total) + 0.5) / 8) - 1,
            pow(2, (min(bucket) FILTER (WHERE at_or_below >= 0.99 * total) + 0.5) / 8) - 1
        ] FROM all_running HAVING count(*) > 0) AS latency_us,
    (SELECT max(max_us) FROM requests) AS max_us,
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
