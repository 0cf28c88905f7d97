-- Sort the rows one derived table, {table}, got since the last compaction (the slices after
-- $sorted_through) by token, then time, and append them as one sorted run (one transaction,
-- run by compaction.py with {table} one of its COMPACTED_TABLES).
CREATE OR REPLACE TEMP TABLE compaction_sorted AS
SELECT * FROM {table}
WHERE slice_batch > $sorted_through
ORDER BY token_number NULLS LAST, start_ns;
DELETE FROM {table} WHERE slice_batch > $sorted_through;
INSERT INTO {table} SELECT * FROM compaction_sorted;
UPDATE derived_sorted_rows
SET sorted_rows = (SELECT count(*) FROM {table}),
    sorted_through = (SELECT coalesce(max(slice_batch), $sorted_through) FROM compaction_sorted)
WHERE table_name = '{table}';
DROP TABLE compaction_sorted
