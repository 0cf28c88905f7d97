-- A lifecycle event registered over the API (POST /api/lifecycle): the same table as the
-- events apps record as spans, without a trace. No RETURNING (DuckLake, lake mode, has
-- none): derived/lifecycle_registration.py knows the row it stores (stored_row).
INSERT INTO token_lifecycle
    (token_id, new_token_id, event, actor, at_ns, trace_id, source, expires_ns)
VALUES ($token_id, $new_token_id, $event, $actor, $at_ns, NULL, 'api', $expires_ns)
