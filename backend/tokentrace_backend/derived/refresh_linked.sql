-- Materialise the linked spans of the slice for the refresh statements below.
-- `newly_linked` marks spans of earlier batches (from the link state) that belonged to no
-- token when they were derived and belong to one now: an untagged downstream service often
-- exports before the tagged service above it.
SELECT
    *,
    batch_id <= $from_batch
        AND prior_token_id IS NULL
        AND linked_token_id IS NOT NULL AS newly_linked
FROM linked_spans
