-- use_after_expiry: requests accepted after the token's known expiry (token_dim.expires_ns:
-- the JWT exp its requests carry, or what registered lifecycle events state; migration
-- 107), beyond the grace for clock skew. The derived tables' refresh has set it for the
-- chunk's tokens before detection reads the chunk.
INSERT INTO detect_raw
WITH expiring AS (  -- each accepted request with its token's known expiry
    SELECT r.*, d.expires_ns AS expiry_ns
    FROM detect_requests AS r
    JOIN token_dim AS d ON d.token_id = r.token_id
    WHERE r.outcome = 'success' AND d.expires_ns IS NOT NULL
),
late AS (
    SELECT
        token_id,
        min(start_ns) AS first_ns,
        max(start_ns) AS last_ns,
        count(*) AS requests,
        min(expiry_ns) AS expiry_ns,
        min_by(lower(hex(trace_id)), start_ns, $evidence_traces) AS trace_ids,
        list_distinct(min_by(endpoint, start_ns, 20))[1:5] AS endpoints
    FROM expiring
    WHERE start_ns > expiry_ns + $grace_ns
    GROUP BY token_id
)
SELECT
    'use_after_expiry',
    token_id,
    NULL,
    '',
    'high',
    format(
        '{} request(s) accepted after the token expired at {} UTC',
        requests, strftime(make_timestamp(expiry_ns // 1000), '%Y-%m-%d %H:%M:%S')
    ),
    to_json({'expires_at': strftime(make_timestamp(expiry_ns // 1000), '%Y-%m-%dT%H:%M:%SZ')}),
    to_json({
        'trace_ids': trace_ids,
        'counts': {'requests': requests},
        'routes': endpoints
    }),
    first_ns,
    last_ns
FROM late
