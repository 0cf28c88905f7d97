-- The requests of the chunk: SERVER spans tagged with a token and an auth outcome, in the
-- batches (from_batch, to_batch], with what the detectors read of them.
CREATE OR REPLACE TEMP TABLE detect_requests AS
SELECT
    s.token_id,
    s.trace_id,
    s.start_ns,
    s.start_ns // 3600000000000 AS hour,
    coalesce(s.http_method, '?') || ' ' || coalesce(s.http_route, '(no route)') AS endpoint,
    s.auth_outcome AS outcome,
    s.auth_outcome IN ('invalid', 'expired', 'revoked') AS auth_failed,
    s.client_address,
    coalesce(s.user_agent, '') AS user_agent,
    CASE WHEN s.auth_outcome = 'insufficient_scope' THEN  -- only the scope detector reads them
        try_cast(json_extract(s.attributes, '$."tokentrace.token.scopes"') AS VARCHAR[])
    END AS scopes,
    CASE WHEN s.auth_outcome = 'insufficient_scope' THEN
        try_cast(json_extract(s.attributes, '$."tokentrace.auth.required_scopes"') AS VARCHAR[])
    END AS required_scopes,
    -- Only token_in_url reads the source, and only a URL query one (query:NAME): the JSON
    -- is parsed only for spans whose attributes hold that text at all, a substring test
    -- three times cheaper than parsing every request's attributes.
    CASE WHEN contains(s.attributes, 'query:') THEN
        json_extract_string(s.attributes, '$."tokentrace.token.source"')
    END AS token_source
FROM spans AS s
WHERE s.batch_id > $from_batch AND s.batch_id <= $to_batch
  AND s.kind = 2 AND s.auth_outcome IS NOT NULL AND s.token_id IS NOT NULL
