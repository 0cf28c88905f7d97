-- Calls derived earlier without a token whose caller is linked to one only now.
UPDATE token_calls
SET token_number = relinked.token_number
FROM (
    SELECT d.token_number, c.start_ns, c.service_name
    FROM refresh_linked AS c
    JOIN token_dim AS d ON d.token_id = c.linked_token_id
    WHERE c.newly_linked AND c.kind IN (3, 4)
) AS relinked
WHERE token_calls.token_number IS NULL
  AND token_calls.start_ns = relinked.start_ns
  AND token_calls.source = relinked.service_name
