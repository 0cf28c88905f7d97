-- Forget what is older than the baseline window (run when the window moves on).
DELETE FROM token_hours WHERE hour < $prune_hour;
DELETE FROM token_clients WHERE hour < $prune_hour;
DELETE FROM address_failures WHERE hour < $prune_hour;
DELETE FROM token_endpoints WHERE day < $prune_hour // 24
