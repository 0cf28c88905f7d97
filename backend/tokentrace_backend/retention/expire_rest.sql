-- What else expires with the spans (event time before $before_ns) and the roll-ups
-- older than $rollups_before_day, then the new boundary (one transaction).
DELETE FROM call_minutes WHERE minute_ns < $before_ns;
DELETE FROM link_spans WHERE start_ns < $before_ns;
DELETE FROM token_hours WHERE hour < $before_ns // 3600000000000;
DELETE FROM token_clients WHERE hour < $before_ns // 3600000000000;
DELETE FROM address_failures WHERE hour < $before_ns // 3600000000000;
DELETE FROM token_endpoints WHERE day < $before_ns // 86400000000000;
DELETE FROM token_request_days WHERE day < $rollups_before_day;
DELETE FROM token_call_days WHERE day < $rollups_before_day;
DELETE FROM token_failure_days WHERE day < $rollups_before_day;
UPDATE retention_state
SET expired_before_ns = greatest(expired_before_ns, $before_ns), runs = runs + 1
