-- The next slice of batches to derive: at most $max_spans spans after $from_batch, none
-- after $until_batch, and the time range of their spans (to bound the linking scan).
WITH next_spans AS (
    SELECT batch_id, start_ns
    FROM spans
    WHERE batch_id > $from_batch AND batch_id <= $until_batch
    ORDER BY batch_id
    LIMIT $max_spans
),
slice AS (
    SELECT max(batch_id) AS to_batch FROM next_spans
)
SELECT
    slice.to_batch,
    (SELECT min(start_ns) FROM spans WHERE batch_id > $from_batch AND batch_id <= slice.to_batch),
    (SELECT max(start_ns) FROM spans WHERE batch_id > $from_batch AND batch_id <= slice.to_batch)
FROM slice
