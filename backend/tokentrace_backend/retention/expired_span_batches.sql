-- The batches holding spans before $before_ns that the derived tables have read (their
-- rows are rolled up or will be), with how many such spans each holds: the spans to
-- delete, in batch order (retention/expiry.py deletes them a chunk of batches at a time).
SELECT batch_id, count(*) AS spans
FROM spans
WHERE start_ns < $before_ns
  AND batch_id <= (SELECT last_batch_id FROM derived_state WHERE name = 'token_tables')
GROUP BY batch_id
ORDER BY batch_id
