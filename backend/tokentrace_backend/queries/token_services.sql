-- Services a token's traces reached (its own spans and the untagged spans linked to it).
SELECT service_name, count(*) AS spans, count(*) FILTER (WHERE failed) AS errors
FROM linked_spans
WHERE linked_token_id = $token_id
  AND start_ns >= $since_ns AND start_ns < $until_ns
GROUP BY service_name
ORDER BY spans DESC, service_name
