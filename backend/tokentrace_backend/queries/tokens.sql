-- Tokens with requests in the window, most recently active first, one page at a time;
-- $owner (a case-insensitive part of the owner) and $token_prefix narrow the list.
WITH requests AS (
    SELECT
        token_number,
        min(start_ns) AS first_ns,
        max(start_ns) AS last_ns,
        count(*) AS requests,
        histogram(auth_outcome) AS outcomes,
        list(DISTINCT service_name) AS entry_services
    FROM token_requests
    WHERE start_ns >= $since_ns AND start_ns < $until_ns
      AND ($service IS NULL OR service_name = $service)
    GROUP BY token_number
    HAVING $outcome IS NULL OR count(*) FILTER (WHERE auth_outcome = $outcome) > 0
),
page AS (
    SELECT r.*, d.token_id, d.key_id, d.owner, d.name
    FROM requests AS r
    JOIN token_dim AS d USING (token_number)
    WHERE ($owner IS NULL OR contains(lower(coalesce(d.owner, '')), lower($owner)))
      AND ($token_prefix IS NULL OR starts_with(d.token_id, $token_prefix))
    ORDER BY r.last_ns DESC, d.token_id
    LIMIT $limit OFFSET $offset
),
failures AS (
    SELECT token_number, count(*) AS errors
    FROM token_failures
    SEMI JOIN page USING (token_number)
    WHERE start_ns >= $since_ns AND start_ns < $until_ns
    GROUP BY token_number
),
open_findings AS (
    SELECT token_id, count(*) AS findings
    FROM findings
    WHERE state = 'open' AND token_id IN (SELECT token_id FROM page)
    GROUP BY token_id
),
reached AS (
    SELECT token_number, list(DISTINCT target) AS targets
    FROM token_calls
    SEMI JOIN page USING (token_number)
    WHERE target_kind = 'service' AND start_ns >= $since_ns AND start_ns < $until_ns
    GROUP BY token_number
)
SELECT
    p.token_id, p.key_id, p.owner, p.name, p.first_ns, p.last_ns, p.requests,
    coalesce(f.errors, 0) AS errors,
    p.outcomes,
    coalesce(o.findings, 0) AS open_findings,
    list_sort(list_distinct(list_concat(p.entry_services, coalesce(r.targets, [])))) AS services
FROM page AS p
LEFT JOIN failures AS f USING (token_number)
LEFT JOIN reached AS r USING (token_number)
LEFT JOIN open_findings AS o USING (token_id)
ORDER BY p.last_ns DESC, p.token_id
