-- A token's requests per time bucket and auth outcome (empty buckets are left out).
SELECT
    $since_ns + (start_ns - $since_ns) // $bucket_ns * $bucket_ns AS bucket_start_ns,
    histogram(auth_outcome) AS outcomes,
    count(*) AS requests
FROM token_requests
WHERE token_number = $token_number
  AND start_ns >= $since_ns AND start_ns < $until_ns
  AND ($service IS NULL OR service_name = $service)
  AND ($outcome IS NULL OR auth_outcome = $outcome)
GROUP BY bucket_start_ns
ORDER BY bucket_start_ns
