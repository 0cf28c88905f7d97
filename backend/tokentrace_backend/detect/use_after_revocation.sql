-- use_after_revocation: requests accepted after the token's recorded revocation (a
-- lifecycle event), beyond the grace for clock skew.
INSERT INTO detect_raw
WITH revoked AS (
    SELECT token_id, min(at_ns) AS revoked_ns
    FROM token_lifecycle
    WHERE event = 'revoked' AND token_id IN (SELECT DISTINCT token_id FROM detect_requests)
    GROUP BY token_id
),
late AS (
    SELECT
        r.token_id,
        v.revoked_ns,
        min(r.start_ns) AS first_ns,
        max(r.start_ns) AS last_ns,
        count(*) AS requests,
        list_slice(list(lower(hex(r.trace_id)) ORDER BY r.start_ns), 1, $evidence_traces)
            AS trace_ids,
        list_slice(list(DISTINCT r.client_address) FILTER (WHERE r.client_address IS NOT NULL), 1, 5)
            AS addresses
    FROM detect_requests AS r
    JOIN revoked AS v ON v.token_id = r.token_id
    WHERE r.outcome = 'success' AND r.start_ns > v.revoked_ns + $grace_ns
    GROUP BY r.token_id, v.revoked_ns
)
SELECT
    'use_after_revocation',
    token_id,
    NULL,
    '',
    'critical',
    format(
        '{} request(s) accepted after the token was revoked at {} UTC',
        requests, strftime(make_timestamp(revoked_ns // 1000), '%Y-%m-%d %H:%M:%S')
    ),
    to_json({'revoked_at': strftime(make_timestamp(revoked_ns // 1000), '%Y-%m-%dT%H:%M:%SZ')}),
    to_json({'trace_ids': trace_ids, 'counts': {'requests': requests}, 'addresses': addresses}),
    first_ns,
    last_ns
FROM late
