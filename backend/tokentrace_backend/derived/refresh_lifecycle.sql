-- Lifecycle spans (tokentrace.record_lifecycle), by the token they are about. They run
-- before refresh_token_metadata, which reads them for the tokens' known expiry.
INSERT INTO token_lifecycle
    (token_id, new_token_id, event, actor, at_ns, trace_id, source, expires_ns)
SELECT
    token_id,
    json_extract_string(attributes, '$."tokentrace.lifecycle.new_token_id"'),
    json_extract_string(attributes, '$."tokentrace.lifecycle.event"'),
    json_extract_string(attributes, '$."tokentrace.lifecycle.actor"'),
    start_ns,
    trace_id,
    'span',
    attribute_expires_ns(attributes)
FROM spans
WHERE batch_id > $from_batch AND batch_id <= $to_batch
  AND name = 'tokentrace.lifecycle' AND token_id IS NOT NULL
