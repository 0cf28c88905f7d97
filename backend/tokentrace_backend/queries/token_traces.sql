-- The traces in which a token's own spans appear within the window.
selected_traces AS (
    SELECT DISTINCT trace_id
    FROM spans
    WHERE token_id = $token_id
      AND start_ns >= $since_ns AND start_ns < $until_ns
)
