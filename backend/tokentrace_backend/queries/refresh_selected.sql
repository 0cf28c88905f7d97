-- The traces that have spans in the batches being derived.
selected_traces AS (
    SELECT DISTINCT trace_id
    FROM spans
    WHERE batch_id > $from_batch AND batch_id <= $to_batch
)
