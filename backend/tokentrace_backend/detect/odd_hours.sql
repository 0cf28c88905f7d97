-- odd_hours: activity in an hour of the week in which the token was silent in every
-- earlier week of its baseline (that hour and the hours either side of it), for a token
-- with a rhythm: silent in at least some hours of the week.
INSERT INTO detect_raw
WITH candidates AS (
    SELECT h.token_id, h.hour, t.hour_of_week, t.requests, h.first_ns, h.last_ns
    FROM detect_hours AS h
    JOIN token_hours AS t ON t.token_id = h.token_id AND t.hour = h.hour
    JOIN detect_profiles AS p ON p.token_id = h.token_id
    WHERE t.requests >= $odd_hours_min_requests AND h.requests > 0
      AND h.hour * 3600000000000 - p.first_ns >= $odd_hours_min_history_ns
),
slots AS (  -- the hour of the week and its neighbours
    SELECT c.token_id, c.hour, unnest([(c.hour_of_week + 167) % 168, c.hour_of_week,
                                       (c.hour_of_week + 1) % 168]) AS slot
    FROM candidates AS c
),
silent AS (
    SELECT s.token_id, s.hour
    FROM slots AS s
    LEFT JOIN token_hours AS b
      ON b.token_id = s.token_id AND b.hour_of_week = s.slot
     AND b.hour <= s.hour - 166 AND b.hour >= s.hour - $baseline_hours - 1
     AND b.requests >= $odd_hours_min_requests
    GROUP BY s.token_id, s.hour
    HAVING count(b.hour) = 0
),
rhythm AS (
    SELECT s.token_id, s.hour, count(DISTINCT b.hour_of_week) AS active_hours_of_week
    FROM silent AS s
    JOIN token_hours AS b
      ON b.token_id = s.token_id AND b.hour < s.hour - 1 AND b.hour >= s.hour - $baseline_hours
     AND b.requests >= $odd_hours_min_requests
    GROUP BY s.token_id, s.hour
)
SELECT
    'odd_hours',
    c.token_id,
    NULL,
    '',
    'low',
    format(
        '{} requests on {} UTC, an hour of the week in which it was silent in every earlier week (it is active in {} of the 168 hours of a week)',
        c.requests, strftime(make_timestamp(c.hour * 3600000000), '%A %H:00 (%Y-%m-%d)'),
        r.active_hours_of_week
    ),
    to_json({'active_hours_of_week': r.active_hours_of_week, 'window_days': $baseline_days}),
    to_json({
        'trace_ids': (
            SELECT min_by(lower(hex(r.trace_id)), r.start_ns, $evidence_traces)
            FROM detect_requests AS r WHERE r.token_id = c.token_id AND r.hour = c.hour
        ),
        'counts': {'requests': c.requests},
        'hour': strftime(make_timestamp(c.hour * 3600000000), '%Y-%m-%dT%H:00:00Z'),
        'hour_of_week': strftime(make_timestamp(c.hour * 3600000000), '%A %H:00')
    }),
    c.first_ns,
    c.last_ns
FROM candidates AS c
JOIN rhythm AS r ON r.token_id = c.token_id AND r.hour = c.hour
WHERE r.active_hours_of_week > 0
  AND r.active_hours_of_week <= $odd_hours_max_active_hours_of_week
