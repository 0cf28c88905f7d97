-- The chunk's candidates become findings: one per (kind, token_id, client_address,
-- subject). New evidence updates the open or acknowledged finding of its key, evidence no
-- newer than what a resolved finding covered is dropped (a re-detection does not reopen
-- it), anything else opens a new finding.
CREATE OR REPLACE TEMP TABLE detect_candidates AS
SELECT
    kind, token_id, client_address, subject,
    arg_max(severity, list_position(['low', 'medium', 'high', 'critical'], severity)) AS severity,
    arg_max(summary, last_ns) AS summary,
    arg_max(baseline, last_ns) AS baseline,
    arg_max(evidence, last_ns) AS evidence,
    min(first_ns) AS first_ns,
    max(last_ns) AS last_ns
FROM detect_raw
GROUP BY kind, token_id, client_address, subject;

DELETE FROM detect_candidates AS c
WHERE EXISTS (
    SELECT 1 FROM findings AS f
    WHERE f.state = 'resolved' AND f.kind = c.kind AND f.subject = c.subject
      AND f.token_id IS NOT DISTINCT FROM c.token_id
      AND f.client_address IS NOT DISTINCT FROM c.client_address
      AND f.last_ns >= c.last_ns
);

UPDATE findings AS f
SET
    severity = CASE
        WHEN list_position(['low', 'medium', 'high', 'critical'], c.severity)
           > list_position(['low', 'medium', 'high', 'critical'], f.severity)
        THEN c.severity ELSE f.severity END,
    summary = c.summary,
    baseline = c.baseline,
    evidence = c.evidence,
    first_ns = least(f.first_ns, c.first_ns),
    last_ns = greatest(f.last_ns, c.last_ns),
    updated_at_ns = $now_ns
FROM detect_candidates AS c
WHERE f.state <> 'resolved' AND f.kind = c.kind AND f.subject = c.subject
  AND f.token_id IS NOT DISTINCT FROM c.token_id
  AND f.client_address IS NOT DISTINCT FROM c.client_address;

-- The new findings get their ids here, not from a sequence (DuckLake, lake mode, has
-- none): the next ones after the largest in use, in order of first evidence (then the
-- key, which is unique among the candidates). Safe because one thread alone inserts
-- findings, the detection stage (detect/detection.py, under its lock), and in the
-- transaction that reads the largest id. Nor below the dispatcher's mark
-- (alert_state 'findings'): were the latest findings deleted, their ids are not handed out
-- again, so a new finding is neither skipped by the dispatcher nor taken for an old one.
INSERT INTO findings (
    id, kind, token_id, client_address, subject, severity, summary, baseline, evidence,
    first_ns, last_ns, detected_at_ns, updated_at_ns
)
SELECT
    greatest(
        (SELECT coalesce(max(id), 0) FROM findings),
        (SELECT coalesce(max(last_finding_id), 0) FROM alert_state WHERE name = 'findings')
    ) + row_number() OVER (
        ORDER BY c.first_ns, c.kind, c.token_id NULLS FIRST, c.client_address NULLS FIRST,
            c.subject
    ) AS id,
    c.kind, c.token_id, c.client_address, c.subject, c.severity, c.summary, c.baseline,
    c.evidence, c.first_ns, c.last_ns, $now_ns, $now_ns
FROM detect_candidates AS c
WHERE NOT EXISTS (
    SELECT 1 FROM findings AS f
    WHERE f.state <> 'resolved' AND f.kind = c.kind AND f.subject = c.subject
      AND f.token_id IS NOT DISTINCT FROM c.token_id
      AND f.client_address IS NOT DISTINCT FROM c.client_address
)
ORDER BY id
