-- Latest key id, owner and name, first/last request time and JWT expiry of the tokens in the
-- batches, and their known expiry (known_expiry_ns, migration 107: the earlier of the JWT exp
-- and the expiry their lifecycle events state; refresh_lifecycle ran before this).
UPDATE token_dim
SET
    key_id = coalesce(seen.key_id, token_dim.key_id),
    owner = coalesce(seen.owner, token_dim.owner),
    name = coalesce(seen.name, token_dim.name),
    first_ns = least(coalesce(token_dim.first_ns, seen.first_ns), seen.first_ns),
    last_ns = greatest(coalesce(token_dim.last_ns, seen.last_ns), seen.last_ns),
    jwt_expires_ns = coalesce(seen.jwt_expires_ns, token_dim.jwt_expires_ns),
    expires_ns = known_expiry_ns(
        coalesce(seen.jwt_expires_ns, token_dim.jwt_expires_ns), token_dim.token_id
    )
FROM (
    SELECT
        token_id,
        arg_max(token_key_id, start_ns) FILTER (WHERE token_key_id IS NOT NULL) AS key_id,
        arg_max(token_owner, start_ns) FILTER (WHERE token_owner IS NOT NULL) AS owner,
        arg_max(token_name, start_ns) FILTER (WHERE token_name IS NOT NULL) AS name,
        min(start_ns) AS first_ns,
        max(start_ns) AS last_ns,
        -- the JWT claims are on the request's span (the one with an auth outcome); one token
        -- id is one JWT, so they all carry the same exp
        max(CASE WHEN auth_outcome IS NOT NULL THEN attribute_expires_ns(attributes) END)
            AS jwt_expires_ns
    FROM spans
    WHERE batch_id > $from_batch AND batch_id <= $to_batch AND token_id IS NOT NULL
    GROUP BY token_id
) AS seen
WHERE token_dim.token_id = seen.token_id
