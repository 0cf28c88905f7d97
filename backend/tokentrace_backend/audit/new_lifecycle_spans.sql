-- Lifecycle events apps recorded as spans (tokentrace.record_lifecycle) in the batches the
-- derived tables hold and the audit follower has not read: the rows derived/
-- refresh_lifecycle.sql adds to token_lifecycle, with source 'span'.
SELECT
    token_id,
    json_extract_string(attributes, '$."tokentrace.lifecycle.event"') AS event,
    json_extract_string(attributes, '$."tokentrace.lifecycle.new_token_id"') AS new_token_id,
    json_extract_string(attributes, '$."tokentrace.lifecycle.actor"') AS actor,
    start_ns AS at_ns,
    attribute_expires_ns(attributes) AS expires_ns,
    lower(hex(trace_id)) AS trace_id
FROM spans
WHERE batch_id > $from_batch AND batch_id <= $to_batch
  AND name = 'tokentrace.lifecycle' AND token_id IS NOT NULL
ORDER BY batch_id, start_ns, span_id
