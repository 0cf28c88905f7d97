-- The rest of the chunk's working set, after detect_requests and detect_networks (the
-- network of each distinct client address, computed in Python: detect/networks.py).

-- Downstream failures the derived tables linked to a token in the chunk's slices.
CREATE OR REPLACE TEMP TABLE detect_failures AS
SELECT d.token_id, f.trace_id, f.start_ns, f.start_ns // 3600000000000 AS hour
FROM token_failures AS f
JOIN token_dim AS d ON d.token_number = f.token_number
WHERE f.slice_batch > $from_batch AND f.slice_batch <= $to_batch;

-- The chunk per token and hour. (The detectors fetch the trace ids of their evidence from
-- detect_requests and detect_failures for the hours they flag, not for every hour.)
CREATE OR REPLACE TEMP TABLE detect_hours AS
WITH requests AS (
    SELECT
        token_id,
        hour,
        count(*) AS requests,
        count(*) FILTER (WHERE outcome = 'success') AS accepted,
        count(*) FILTER (WHERE auth_failed) AS auth_failures,
        min(start_ns) AS first_ns,
        max(start_ns) AS last_ns
    FROM detect_requests
    GROUP BY token_id, hour
),
errors AS (
    SELECT
        token_id,
        hour,
        count(DISTINCT trace_id) AS errors
    FROM detect_failures
    GROUP BY token_id, hour
)
SELECT
    token_id,
    hour,
    ((hour // 24 + 3) % 7) * 24 + hour % 24 AS hour_of_week,  -- 1970-01-01 was a Thursday
    coalesce(r.requests, 0) AS requests,
    coalesce(r.accepted, 0) AS accepted,
    coalesce(r.auth_failures, 0) AS auth_failures,
    coalesce(e.errors, 0) AS errors,
    coalesce(r.first_ns, hour * 3600000000000) AS first_ns,
    coalesce(r.last_ns, hour * 3600000000000) AS last_ns
FROM requests AS r
FULL JOIN errors AS e USING (token_id, hour);

-- The candidate findings of the chunk, before de-duplication (detect/findings_merge.sql).
CREATE OR REPLACE TEMP TABLE detect_raw (
    kind VARCHAR NOT NULL,
    token_id VARCHAR,
    client_address VARCHAR,
    subject VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    summary VARCHAR NOT NULL,
    baseline JSON NOT NULL,
    evidence JSON NOT NULL,
    first_ns BIGINT NOT NULL,
    last_ns BIGINT NOT NULL
)
