-- Store this slice's calls per token.
INSERT INTO token_calls SELECT * FROM refresh_new_calls
