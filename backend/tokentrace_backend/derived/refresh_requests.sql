-- Requests: SERVER spans tagged by the middleware (they carry an auth outcome).
INSERT INTO token_requests
SELECT
    d.token_number,
    s.start_ns,
    least(s.duration_ns // 1000, 4294967295)::UINTEGER,
    s.service_name,
    s.http_method,
    s.http_route,
    s.http_status,
    s.auth_outcome,
    s.client_address,
    s.user_agent,
    span_failed(s.status_code, s.kind, s.http_status, s.error_type),
    $to_batch
FROM spans AS s
JOIN token_dim AS d ON d.token_id = s.token_id
WHERE s.batch_id > $from_batch AND s.batch_id <= $to_batch
  AND s.kind = 2 AND s.auth_outcome IS NOT NULL
