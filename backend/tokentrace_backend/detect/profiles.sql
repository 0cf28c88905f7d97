-- The chunk enters the profiles (after the first-use detectors, before the rate ones).
-- Upserts are MERGE INTO, not INSERT ... ON CONFLICT: DuckLake (lake mode) has no keys to
-- conflict on. detect_hours holds one row per (token_id, hour) (chunk.sql groups by them).
MERGE INTO token_hours AS t
USING detect_hours AS h
ON t.token_id = h.token_id AND t.hour = h.hour
WHEN MATCHED THEN UPDATE SET
    requests = t.requests + h.requests,
    accepted = t.accepted + h.accepted,
    auth_failures = t.auth_failures + h.auth_failures,
    errors = t.errors + h.errors
WHEN NOT MATCHED THEN INSERT
    (token_id, hour, hour_of_week, requests, accepted, auth_failures, errors)
    VALUES (h.token_id, h.hour, h.hour_of_week, h.requests, h.accepted, h.auth_failures, h.errors);

INSERT INTO token_clients
SELECT DISTINCT r.token_id, r.hour, coalesce(n.network, ''), r.user_agent
FROM detect_requests AS r
LEFT JOIN detect_networks AS n ON n.client_address = r.client_address
EXCEPT
SELECT token_id, hour, network, user_agent FROM token_clients
WHERE hour >= (SELECT min(hour) FROM detect_hours);

INSERT INTO token_endpoints
SELECT DISTINCT token_id, start_ns // 86400000000000, endpoint FROM detect_requests
EXCEPT
SELECT token_id, day, endpoint FROM token_endpoints
WHERE day >= (SELECT min(hour) // 24 FROM detect_hours);

MERGE INTO address_failures AS a
USING (
    SELECT client_address, hour, token_id, count(*) AS failures
    FROM detect_requests
    WHERE auth_failed AND client_address IS NOT NULL
    GROUP BY ALL
) AS f
ON a.client_address = f.client_address AND a.hour = f.hour AND a.token_id = f.token_id
WHEN MATCHED THEN UPDATE SET failures = a.failures + f.failures
WHEN NOT MATCHED THEN INSERT (client_address, hour, token_id, failures)
    VALUES (f.client_address, f.hour, f.token_id, f.failures)
