-- New deliveries (alerts/delivery_log.py): one pending row per (rule, source, id), the
-- source a finding or a lifecycle alert; one recorded before is left as it is (an
-- anti-join, not ON CONFLICT: DuckLake, lake mode, has no keys). The caller reads which
-- are new first (_NEW_DELIVERIES), in the same transaction.
INSERT INTO alert_deliveries
    (rule_name, source, source_id, status, attempts, queued_at_ns, updated_at_ns)
SELECT DISTINCT c.rule_name, $source, c.source_id, 'pending', 0, $now_ns, $now_ns
FROM (SELECT unnest($rule_names) AS rule_name, unnest($source_ids) AS source_id) AS c
WHERE NOT EXISTS (
    SELECT 1 FROM alert_deliveries AS d
    WHERE d.rule_name = c.rule_name AND d.source = $source AND d.source_id = c.source_id
)
