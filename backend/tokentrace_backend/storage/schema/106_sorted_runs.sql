-- Migration 106 (derived tables): compaction sorts only what arrived since the last one.
-- Each derived row records the last batch of the refresh slice that wrote it
-- (`slice_batch`); a compaction rewrites, sorted by token, the rows of the slices after
-- `sorted_through` and appends them as one more sorted run (derived/compaction.py).
ALTER TABLE token_requests ADD COLUMN slice_batch UBIGINT DEFAULT 0;
ALTER TABLE token_calls ADD COLUMN slice_batch UBIGINT DEFAULT 0;
ALTER TABLE token_failures ADD COLUMN slice_batch UBIGINT DEFAULT 0;
ALTER TABLE derived_sorted_rows ADD COLUMN sorted_through UBIGINT DEFAULT 0;
