-- Rows of token_failures sorted by the last compaction, and rows in total.
SELECT
    (SELECT sorted_rows FROM derived_sorted_rows WHERE table_name = 'token_failures'),
    (SELECT count(*) FROM token_failures)
