-- Failing spans linked to a token (new ones, and earlier ones linked only now). Server 5xx
-- without an exception type group as "HTTP <status>"; a bare status ERROR has a null error
-- kind.
INSERT INTO token_failures
SELECT
    d.token_number,
    s.start_ns,
    s.service_name,
    s.name,
    coalesce(
        s.error_type,
        CASE WHEN s.http_status >= 500 THEN 'HTTP ' || s.http_status::VARCHAR END
    ),
    coalesce(s.error_message, s.status_message),
    s.trace_id,
    $to_batch
FROM refresh_linked AS s
JOIN token_dim AS d ON d.token_id = s.linked_token_id
WHERE (s.batch_id > $from_batch OR s.newly_linked) AND s.failed
