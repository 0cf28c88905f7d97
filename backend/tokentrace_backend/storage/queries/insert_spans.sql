-- The writer's insert: one Arrow table of decoded spans (registered as incoming_spans),
-- stamped with the batch number of this commit.
INSERT INTO spans BY NAME
SELECT *, CAST(? AS UBIGINT) AS batch_id FROM incoming_spans
