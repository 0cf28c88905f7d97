-- token_in_url: a token sent in the URL query string (tokentrace.token.source query:NAME),
-- where access logs, proxies and browser histories keep it. Any such request is news; one
-- finding per token (subject ''), which later requests update while it is open or
-- acknowledged (findings_merge.sql). Refused attempts (invalid, expired, revoked) do not
-- count: they expose no working credential, and a guessing client would open one finding
-- per guess.
--
-- The counts, sources, routes and example trace ids add up over the rounds: a candidate
-- carries the open finding's evidence when that came from earlier batches
-- (through_batch <= $from_batch). A re-detection reads the batches again from the first,
-- so its first candidate starts the sums over instead of counting a batch twice.
INSERT INTO detect_raw
WITH sent AS (
    SELECT
        token_id,
        min(start_ns) AS first_ns,
        max(start_ns) AS last_ns,
        count(*) AS requests,
        list_sort(list_distinct(list(token_source))) AS sources,
        min_by(token_source, start_ns) AS source,
        min_by(lower(hex(trace_id)), start_ns, $evidence_traces) AS trace_ids,
        list_distinct(min_by(endpoint, start_ns, 20))[1:5] AS endpoints
    FROM detect_requests
    WHERE starts_with(token_source, 'query:') AND NOT auth_failed
    GROUP BY token_id
),
earlier AS (  -- the open or acknowledged finding, when its evidence is of earlier batches
    SELECT
        f.token_id,
        CAST(f.evidence->>'$.counts.requests' AS BIGINT) AS requests,
        CAST(json_extract(f.evidence, '$.sources') AS VARCHAR[]) AS sources,
        f.evidence->>'$.source' AS source,
        CAST(json_extract(f.evidence, '$.trace_ids') AS VARCHAR[]) AS trace_ids,
        CAST(json_extract(f.evidence, '$.routes') AS VARCHAR[]) AS endpoints
    FROM findings AS f
    WHERE f.kind = 'token_in_url' AND f.state <> 'resolved' AND f.subject = ''
      AND f.token_id IN (SELECT token_id FROM sent)
      AND CAST(f.evidence->>'$.through_batch' AS UBIGINT) <= $from_batch
),
total AS (
    SELECT
        s.token_id,
        s.first_ns,
        s.last_ns,
        coalesce(e.requests, 0) AS requests_before,
        coalesce(e.requests, 0) + s.requests AS requests,
        coalesce(e.source, s.source) AS source,
        list_sort(list_distinct(coalesce(e.sources, []) || s.sources)) AS sources,
        list_slice(coalesce(e.trace_ids, []) || s.trace_ids, 1, $evidence_traces) AS trace_ids,
        list_slice(list_distinct(coalesce(e.endpoints, []) || s.endpoints), 1, 5) AS endpoints
    FROM sent AS s
    LEFT JOIN earlier AS e ON e.token_id = s.token_id
)
SELECT
    'token_in_url',
    token_id,
    NULL,
    '',
    'high',
    format(
        'token sent in the URL query ({}) {} time(s)', array_to_string(sources, ', '), requests
    ),
    to_json({'expected_sources': ['header', 'cookie'], 'url_requests_before': requests_before}),
    to_json({
        'trace_ids': trace_ids,
        'counts': {'requests': requests},
        'source': source,
        'sources': sources,
        'routes': endpoints,
        'through_batch': $to_batch
    }),
    first_ns,
    last_ns
FROM total
