-- burst: an hour with far more accepted requests than the token's active hours in its
-- baseline window: above median + k * MAD, factor * median and factor * 95th percentile.
-- (A burst of refused attempts is an auth_failure_burst.)
INSERT INTO detect_raw
WITH candidates AS (
    SELECT h.token_id, h.hour, t.accepted AS requests, h.first_ns, h.last_ns
    FROM detect_hours AS h
    JOIN token_hours AS t ON t.token_id = h.token_id AND t.hour = h.hour
    JOIN detect_profiles AS p ON p.token_id = h.token_id
    WHERE t.accepted >= $burst_min_requests
      AND p.active_hours > $min_baseline_hours
      AND t.accepted >= 2 * p.requests / p.active_hours  -- cheap first filter: twice the mean
),
judged AS (
    SELECT
        c.token_id, c.hour, c.requests, c.first_ns, c.last_ns,
        median(b.accepted) AS median,
        mad(b.accepted) AS mad,
        quantile_cont(b.accepted, 0.95) AS p95,
        count(*) AS hours
    FROM candidates AS c
    JOIN token_hours AS b
      ON b.token_id = c.token_id AND b.hour < c.hour AND b.hour >= c.hour - $baseline_hours
    GROUP BY ALL
)
SELECT
    'burst',
    token_id,
    NULL,
    '',
    CASE WHEN requests >= 4 * $burst_median_factor * median THEN 'high' ELSE 'medium' END,
    format(
        '{} accepted requests in the hour from {} UTC, against a median of {} per active hour (95th percentile {:.0f}) over {} hours',
        requests, strftime(make_timestamp(hour * 3600000000), '%Y-%m-%d %H:00'), median, p95, hours
    ),
    to_json({
        'median_per_hour': median,
        'mad': mad,
        'p95_per_hour': p95,
        'active_hours': hours,
        'window_days': $baseline_days
    }),
    to_json({
        'trace_ids': (
            SELECT min_by(lower(hex(r.trace_id)), r.start_ns, $evidence_traces)
            FROM detect_requests AS r WHERE r.token_id = judged.token_id AND r.hour = judged.hour AND r.outcome = 'success'
        ),
        'counts': {'requests': requests},
        'hour': strftime(make_timestamp(hour * 3600000000), '%Y-%m-%dT%H:00:00Z')
    }),
    first_ns,
    last_ns
FROM judged
WHERE hours >= $min_baseline_hours
  AND requests > median + $burst_mad_k * $mad_scale * mad
  AND requests >= $burst_median_factor * median
  AND requests >= $burst_p95_factor * p95
