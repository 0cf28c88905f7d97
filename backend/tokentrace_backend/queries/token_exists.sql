-- Whether any span ever carried this token id (unknown tokens answer 404).
SELECT EXISTS (SELECT 1 FROM spans WHERE token_id = $token_id)
