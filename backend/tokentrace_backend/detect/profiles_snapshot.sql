-- Each token of the chunk as its hours in the profile show it (run before the chunk enters
-- the profiles, for the first-use detectors, and again after, for the rate detectors):
-- its first active hour in the baseline window, its requests and active hours there.
CREATE OR REPLACE TEMP TABLE detect_profiles AS
SELECT
    token_id,
    min(hour) * 3600000000000 AS first_ns,
    sum(requests) AS requests,
    count(*) AS active_hours
FROM token_hours
WHERE token_id IN (SELECT token_id FROM detect_hours)
GROUP BY token_id
