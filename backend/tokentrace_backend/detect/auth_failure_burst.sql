-- auth_failure_burst: many invalid, expired or revoked attempts with one token id in an
-- hour, far above the token's own failures per active hour (a token id with no history
-- is judged against none).
INSERT INTO detect_raw
WITH candidates AS (
    SELECT h.token_id, h.hour, t.requests, t.auth_failures, h.first_ns, h.last_ns
    FROM detect_hours AS h
    JOIN token_hours AS t ON t.token_id = h.token_id AND t.hour = h.hour
    WHERE t.auth_failures >= $auth_failure_min AND h.auth_failures > 0
),
judged AS (
    SELECT
        c.token_id, c.hour, c.requests, c.auth_failures, c.first_ns, c.last_ns,
        coalesce(median(b.auth_failures), 0) AS median,
        coalesce(mad(b.auth_failures), 0) AS mad,
        count(b.hour) AS hours
    FROM candidates AS c
    LEFT JOIN token_hours AS b
      ON b.token_id = c.token_id AND b.hour < c.hour AND b.hour >= c.hour - $baseline_hours
    GROUP BY ALL
),
flagged AS (  -- the hours judged a burst, with the outcomes and traces of their failures
    SELECT
        j.*,
        (
            SELECT histogram(r.outcome) FROM detect_requests AS r
            WHERE r.token_id = j.token_id AND r.hour = j.hour AND r.auth_failed
        ) AS failed_outcomes,
        (
            SELECT min_by(lower(hex(r.trace_id)), r.start_ns, $evidence_traces)
            FROM detect_requests AS r
            WHERE r.token_id = j.token_id AND r.hour = j.hour AND r.auth_failed
        ) AS failed_auth_trace_ids
    FROM judged AS j
    WHERE j.auth_failures >= $auth_failure_factor * greatest(j.median, 1)
      AND j.auth_failures > j.median + $burst_mad_k * $mad_scale * j.mad
)
SELECT
    'auth_failure_burst',
    token_id,
    NULL,
    '',
    CASE WHEN auth_failures >= 10 * $auth_failure_min THEN 'high' ELSE 'medium' END,
    format(
        '{} failed authentications ({}) in the hour from {} UTC, against a median of {} per active hour over {} hours',
        auth_failures,
        array_to_string(
            list_transform(
                map_entries(coalesce(failed_outcomes, MAP {})), lambda e: e.key || ' ' || e.value
            ),
            ', '
        ),
        strftime(make_timestamp(hour * 3600000000), '%Y-%m-%d %H:00'), median, hours
    ),
    to_json({'median_failures_per_hour': median, 'mad': mad, 'active_hours': hours,
             'window_days': $baseline_days}),
    to_json({
        'trace_ids': failed_auth_trace_ids,
        'counts': {'auth_failures': auth_failures, 'requests': requests,
                   'outcomes': coalesce(failed_outcomes, MAP {})},
        'hour': strftime(make_timestamp(hour * 3600000000), '%Y-%m-%dT%H:00:00Z')
    }),
    first_ns,
    last_ns
FROM flagged
