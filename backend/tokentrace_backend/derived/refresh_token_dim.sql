-- Number the token ids seen for the first time.
INSERT INTO token_dim (token_number, token_id)
SELECT
    (SELECT coalesce(max(token_number), 0) FROM token_dim)
        + row_number() OVER (ORDER BY fresh.token_id),
    fresh.token_id
FROM (
    SELECT DISTINCT linked_token_id AS token_id
    FROM refresh_linked
    WHERE linked_token_id IS NOT NULL AND batch_id > $from_batch
) AS fresh
ANTI JOIN token_dim AS known ON known.token_id = fresh.token_id
