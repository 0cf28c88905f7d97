-- scope_violation: requests refused for insufficient scope, by token and endpoint, with
-- the scopes that were missing (required by the route, not granted to the token).
INSERT INTO detect_raw
WITH refused AS (
    SELECT
        token_id,
        endpoint,
        start_ns,
        trace_id,
        coalesce(scopes, []) AS granted,
        list_filter(
            coalesce(required_scopes, []), lambda scope: NOT list_contains(coalesce(scopes, []), scope)
        )
            AS missing
    FROM detect_requests
    WHERE outcome = 'insufficient_scope'
),
grouped AS (
    SELECT
        token_id,
        endpoint,
        min(start_ns) AS first_ns,
        max(start_ns) AS last_ns,
        count(*) AS requests,
        list_sort(list_distinct(flatten(list(missing)))) AS missing,
        list_sort(list_distinct(flatten(list(granted)))) AS granted,
        list_slice(list(lower(hex(trace_id)) ORDER BY start_ns), 1, $evidence_traces)
            AS trace_ids
    FROM refused
    GROUP BY token_id, endpoint
)
SELECT
    'scope_violation',
    token_id,
    NULL,
    endpoint,
    'medium',
    format(
        '{} request(s) to {} refused for insufficient scope{}',
        requests, endpoint,
        CASE WHEN len(missing) > 0 THEN ': missing ' || array_to_string(missing, ', ') ELSE '' END
    ),
    to_json({'granted_scopes': granted}),
    to_json({
        'trace_ids': trace_ids,
        'counts': {'requests': requests},
        'route': endpoint,
        'missing_scopes': missing
    }),
    first_ns,
    last_ns
FROM grouped
