-- Lifecycle spans (tokentrace.record_lifecycle), by the token they are about.
INSERT INTO token_lifecycle
SELECT
    token_id,
    json_extract_string(attributes, '$."tokentrace.lifecycle.new_token_id"'),
    json_extract_string(attributes, '$."tokentrace.lifecycle.event"'),
    json_extract_string(attributes, '$."tokentrace.lifecycle.actor"'),
    start_ns,
    trace_id
FROM spans
WHERE batch_id > $from_batch AND batch_id <= $to_batch
  AND name = 'tokentrace.lifecycle' AND token_id IS NOT NULL
