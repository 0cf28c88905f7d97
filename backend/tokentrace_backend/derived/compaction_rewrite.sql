-- Rewrite one derived table, {table}, sorted by token, then time (one transaction, run by
-- compaction.py with {table} one of its COMPACTED_TABLES), and record how many rows are
-- sorted now.
CREATE OR REPLACE TEMP TABLE compaction_sorted AS
SELECT * FROM {table} ORDER BY token_number NULLS LAST, start_ns;
DELETE FROM {table};
INSERT INTO {table} SELECT * FROM compaction_sorted;
UPDATE derived_sorted_rows
SET sorted_rows = (SELECT count(*) FROM compaction_sorted)
WHERE table_name = '{table}';
DROP TABLE compaction_sorted
