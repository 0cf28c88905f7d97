-- New deliveries (alerts/delivery_log.py): one pending row per (rule, source, id), the
-- source a finding or a lifecycle alert; one recorded before is left as it is. Returns the
-- rules of the new rows.
INSERT INTO alert_deliveries
    (rule_name, source, source_id, status, attempts, queued_at_ns, updated_at_ns)
SELECT rule_name, $source, source_id, 'pending', 0, $now_ns, $now_ns
FROM (SELECT unnest($rule_names) AS rule_name, unnest($source_ids) AS source_id)
ON CONFLICT DO NOTHING
RETURNING rule_name
