-- The findings already handled that the detectors (or a user) changed since the
-- dispatcher's update mark, and are not resolved: a rule they match now and did not before
-- gets them (alerts/findings.py: FindingFacts). Few rows: only recent changes.
SELECT f.id, f.kind, f.token_id, d.owner, f.severity, f.updated_at_ns
FROM findings AS f
LEFT JOIN token_dim AS d ON d.token_id = f.token_id
WHERE f.id <= $through_id AND f.updated_at_ns > $updated_after_ns AND f.state <> 'resolved'
    AND f.updated_at_ns > f.detected_at_ns  -- changed since it was opened (and handled as new)
ORDER BY f.id
