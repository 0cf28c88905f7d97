-- Number the token ids seen for the first time. A span is linked only to a token that some
-- span carries itself (in this slice or an earlier one), so the slice's own ids are all.
INSERT INTO token_dim (token_number, token_id)
SELECT
    (SELECT coalesce(max(token_number), 0) FROM token_dim)
        + row_number() OVER (ORDER BY fresh.token_id),
    fresh.token_id
FROM (
    SELECT DISTINCT token_id
    FROM spans
    WHERE batch_id > $from_batch AND batch_id <= $to_batch AND token_id IS NOT NULL
) AS fresh
ANTI JOIN token_dim AS known ON known.token_id = fresh.token_id
