-- Tokens seen in the window, most recently active first, one page at a time.
-- A request is a SERVER span tagged by the middleware (it has an auth outcome); spans that
-- only carry the token id through baggage do not count as requests.
WITH token_spans AS (
    SELECT
        token_id, token_key_id, token_owner, token_name, service_name, start_ns, auth_outcome,
        (kind = 2 AND auth_outcome IS NOT NULL) AS is_request,
        (status_code = 2 OR (kind = 2 AND http_status >= 500) OR error_type IS NOT NULL) AS failed
    FROM spans
    WHERE token_id IS NOT NULL
      AND start_ns >= $since_ns AND start_ns < $until_ns
      AND ($service IS NULL OR service_name = $service)
)
SELECT
    token_id,
    arg_max(token_key_id, start_ns) FILTER (WHERE token_key_id IS NOT NULL) AS key_id,
    arg_max(token_owner, start_ns) FILTER (WHERE token_owner IS NOT NULL) AS owner,
    arg_max(token_name, start_ns) FILTER (WHERE token_name IS NOT NULL) AS name,
    min(start_ns) AS first_seen_ns,
    max(start_ns) AS last_seen_ns,
    count(*) FILTER (WHERE is_request) AS requests,
    count(*) FILTER (WHERE failed) AS errors,
    histogram(auth_outcome) FILTER (WHERE is_request) AS outcomes,
    list(DISTINCT service_name ORDER BY service_name) AS services
FROM token_spans
GROUP BY token_id
HAVING $outcome IS NULL OR count(*) FILTER (WHERE is_request AND auth_outcome = $outcome) > 0
ORDER BY last_seen_ns DESC, token_id
LIMIT $limit OFFSET $offset
