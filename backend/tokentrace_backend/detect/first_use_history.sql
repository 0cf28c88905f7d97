-- For the first-use detectors (new_endpoint, new_network): each token's history before
-- each hour of the chunk, the profile's and the chunk's earlier hours together: its first
-- activity and how many requests came before that hour. Run after the first profile
-- snapshot, before the chunk enters the profiles.
CREATE OR REPLACE TEMP TABLE detect_history AS
SELECT
    h.token_id,
    h.hour,
    least(coalesce(p.first_ns, min(h.first_ns) OVER token), min(h.first_ns) OVER token)
        AS token_first_ns,
    coalesce(p.requests, 0) + coalesce(sum(h.requests) OVER (
        PARTITION BY h.token_id ORDER BY h.hour ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ), 0) AS requests_before
FROM detect_hours AS h
LEFT JOIN detect_profiles AS p ON p.token_id = h.token_id
WINDOW token AS (PARTITION BY h.token_id)
