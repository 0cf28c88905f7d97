-- Rows of token_requests sorted by the last compaction, and rows in total.
SELECT
    (SELECT sorted_rows FROM derived_sorted_rows WHERE table_name = 'token_requests'),
    (SELECT count(*) FROM token_requests)
