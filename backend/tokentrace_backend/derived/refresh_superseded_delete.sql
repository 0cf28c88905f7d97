-- Delete the superseded remote-peer calls selected by refresh_superseded_calls.sql.
DELETE FROM token_calls
USING refresh_superseded AS gone
WHERE token_calls.target_kind <> 'service'
  AND token_calls.start_ns = gone.start_ns
  AND token_calls.source = gone.source
  AND token_calls.target = gone.target
