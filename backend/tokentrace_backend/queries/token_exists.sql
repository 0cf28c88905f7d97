-- A token as the derived tables know it (no row: no span ever carried this token id).
SELECT token_number, key_id, owner, name FROM token_dim WHERE token_id = $token_id
