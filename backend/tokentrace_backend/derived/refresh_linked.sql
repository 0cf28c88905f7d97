-- Materialise the linked spans of the selected traces for the refresh statements below.
-- `newly_linked` marks spans of earlier batches that belonged to no token when they were
-- derived (their trace had no tagged span yet) and belong to one now: an untagged
-- downstream service often exports before the tagged service above it.
SELECT
    *,
    batch_id <= $from_batch
        AND linked_token_id IS NOT NULL
        AND NOT bool_or(batch_id <= $from_batch AND token_id IS NOT NULL)
            OVER (PARTITION BY trace_id) AS newly_linked
FROM linked_spans
