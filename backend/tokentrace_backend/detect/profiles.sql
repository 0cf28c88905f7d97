-- The chunk enters the profiles (after the first-use detectors, before the rate ones).
INSERT INTO token_hours AS t
SELECT token_id, hour, hour_of_week, requests, accepted, auth_failures, errors
FROM detect_hours
ON CONFLICT (token_id, hour) DO UPDATE SET
    requests = t.requests + excluded.requests,
    accepted = t.accepted + excluded.accepted,
    auth_failures = t.auth_failures + excluded.auth_failures,
    errors = t.errors + excluded.errors;

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

INSERT INTO address_failures AS a
SELECT client_address, hour, token_id, count(*)
FROM detect_requests
WHERE auth_failed AND client_address IS NOT NULL
GROUP BY ALL
ON CONFLICT (client_address, hour, token_id) DO UPDATE SET
    failures = a.failures + excluded.failures
