-- error_spike: an hour in which the share of the token's requests that failed downstream
-- is far above that share in its baseline hours.
INSERT INTO detect_raw
WITH candidates AS (
    SELECT
        h.token_id, h.hour, t.requests, t.errors, h.first_ns, h.last_ns,
        least(t.errors / t.requests, 1.0) AS rate
    FROM detect_hours AS h
    JOIN token_hours AS t ON t.token_id = h.token_id AND t.hour = h.hour
    JOIN detect_profiles AS p ON p.token_id = h.token_id
    WHERE t.errors >= $error_min_errors
      AND t.requests > 0
      AND t.errors / t.requests >= $error_min_rate
      AND p.active_hours > $min_baseline_hours
),
judged AS (
    SELECT
        c.token_id, c.hour, c.requests, c.errors, c.rate, c.first_ns, c.last_ns,
        median(least(b.errors / b.requests, 1.0)) AS median,
        quantile_cont(least(b.errors / b.requests, 1.0), 0.95) AS p95,
        count(*) AS hours
    FROM candidates AS c
    JOIN token_hours AS b
      ON b.token_id = c.token_id AND b.hour < c.hour AND b.hour >= c.hour - $baseline_hours
     AND b.requests > 0
    GROUP BY ALL
)
SELECT
    'error_spike',
    token_id,
    NULL,
    '',
    CASE WHEN rate >= 0.5 THEN 'high' ELSE 'medium' END,
    format(
        '{:.0f}% of its requests failed downstream in the hour from {} UTC ({} of {}), against a median of {:.1f}% (95th percentile {:.1f}%)',
        100 * rate, strftime(make_timestamp(hour * 3600000000), '%Y-%m-%d %H:00'), errors, requests,
        100 * median, 100 * p95
    ),
    to_json({'median_error_rate': median, 'p95_error_rate': p95, 'active_hours': hours,
             'window_days': $baseline_days}),
    to_json({
        'trace_ids': (
            SELECT list_distinct(min_by(lower(hex(f.trace_id)), f.start_ns, 3 * $evidence_traces))
                [1:$evidence_traces]
            FROM detect_failures AS f WHERE f.token_id = judged.token_id AND f.hour = judged.hour
        ),
        'counts': {'requests': requests, 'errors': errors},
        'hour': strftime(make_timestamp(hour * 3600000000), '%Y-%m-%dT%H:00:00Z')
    }),
    first_ns,
    last_ns
FROM judged
WHERE hours >= $min_baseline_hours
  AND rate >= $error_median_factor * median
  AND rate >= p95 + $error_p95_margin
