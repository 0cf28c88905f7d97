-- Rewrite token_calls sorted by token, then time (one transaction, run by compaction.py).
CREATE OR REPLACE TEMP TABLE compaction_sorted AS
SELECT * FROM token_calls ORDER BY token_number NULLS LAST, start_ns;
DELETE FROM token_calls;
INSERT INTO token_calls SELECT * FROM compaction_sorted;
UPDATE derived_sorted_rows
SET sorted_rows = (SELECT count(*) FROM compaction_sorted)
WHERE table_name = 'token_calls';
DROP TABLE compaction_sorted
