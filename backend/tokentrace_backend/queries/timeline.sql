-- A token's requests per time bucket and auth outcome (empty buckets are left out).
SELECT
    $since_ns + (start_ns - $since_ns) // $bucket_ns * $bucket_ns AS bucket_start_ns,
    histogram(coalesce(auth_outcome, 'unknown')) AS outcomes,
    count(*) AS requests
FROM spans
WHERE token_id = $token_id
  AND kind = 2 AND auth_outcome IS NOT NULL
  AND start_ns >= $since_ns AND start_ns < $until_ns
  AND ($service IS NULL OR service_name = $service)
  AND ($outcome IS NULL OR auth_outcome = $outcome)
GROUP BY bucket_start_ns
ORDER BY bucket_start_ns
