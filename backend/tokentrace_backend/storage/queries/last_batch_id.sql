-- Where the writer's batch numbering resumes after a restart.
SELECT coalesce(max(batch_id), 0) FROM spans
