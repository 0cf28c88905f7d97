-- credential_stuffing: one client address failing to authenticate with many token ids in
-- an hour, far above what that address does in its other hours (run after the chunk
-- entered address_failures).
INSERT INTO detect_raw
WITH touched AS (
    SELECT client_address, hour, min(start_ns) AS first_ns, max(start_ns) AS last_ns,
           min_by(lower(hex(trace_id)), start_ns, $evidence_traces) AS trace_ids
    FROM detect_requests
    WHERE auth_failed AND client_address IS NOT NULL
    GROUP BY client_address, hour
),
tried AS (  -- the first token ids tried from each address in the chunk, in the order tried
    SELECT client_address, hour, list(token_id ORDER BY first_ns, token_id)[1:10] AS token_ids
    FROM (
        SELECT client_address, hour, token_id, min(start_ns) AS first_ns
        FROM detect_requests
        WHERE auth_failed AND client_address IS NOT NULL
        GROUP BY client_address, hour, token_id
    )
    GROUP BY client_address, hour
),
counted AS (
    SELECT a.client_address, a.hour, count(*) AS tokens, sum(a.failures) AS failures,
           any_value(y.token_ids) AS token_ids
    FROM address_failures AS a
    JOIN tried AS y ON y.client_address = a.client_address AND y.hour = a.hour
    GROUP BY a.client_address, a.hour
    HAVING count(*) >= $stuffing_min_tokens
),
judged AS (
    SELECT c.*, t.trace_ids, t.first_ns, t.last_ns,
           coalesce((
               SELECT median(per_hour.tokens)
               FROM (
                   SELECT count(*) AS tokens
                   FROM address_failures AS b
                   WHERE b.client_address = c.client_address AND b.hour < c.hour
                     AND b.hour >= c.hour - $baseline_hours
                   GROUP BY b.hour
               ) AS per_hour
           ), 0) AS median
    FROM counted AS c
    JOIN touched AS t ON t.client_address = c.client_address AND t.hour = c.hour
)
SELECT
    'credential_stuffing',
    NULL,
    client_address,
    '',
    'high',
    format(
        '{} failed authentications with {} different token ids from {} in the hour from {} UTC (its median: {} token ids per hour)',
        failures, tokens, client_address, strftime(make_timestamp(hour * 3600000000), '%Y-%m-%d %H:00'),
        median
    ),
    to_json({'median_token_ids_per_hour': median, 'minimum_token_ids': $stuffing_min_tokens,
             'window_days': $baseline_days}),
    to_json({
        'trace_ids': trace_ids,
        'counts': {'token_ids': tokens, 'failures': failures},
        'address': client_address,
        'token_ids': token_ids,
        'hour': strftime(make_timestamp(hour * 3600000000), '%Y-%m-%dT%H:00:00Z')
    }),
    first_ns,
    last_ns
FROM judged
WHERE tokens >= $stuffing_factor * median
