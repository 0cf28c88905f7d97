-- The last batch a refresh derives: the newest one committed when it starts. A refresh
-- stops there rather than chasing the writer, so under steady ingest it ends (the batches
-- written meanwhile are the next refresh's). Row groups at or below $from_batch are
-- skipped by their batch_id min/max.
SELECT max(batch_id) FROM spans WHERE batch_id > $from_batch
