-- Migration 301: alerts on the lifecycle states of tokens (alerts/lifecycle.py).
--
-- The dispatcher evaluates the states of every token (queries/lifecycle_states.sql) every
-- TOKENTRACE_ALERT_LIFECYCLE_POLL_MS and records here when a (token, state) pair turns on
-- (a new row) and off (off_ns set): the rows with no off_ns are the pairs on now. A pair
-- that turns on is alerted once to each matching rule; it is not alerted again while it
-- stays on, and a later new turn on is a new row, alerted again. The first evaluation
-- after this migration only records the pairs that are on (alert_state 'lifecycle' still
-- at 0), so adding it to a database does not send its backlog.
CREATE SEQUENCE alert_lifecycle_ids START 1;
CREATE TABLE alert_lifecycle (
    id UBIGINT PRIMARY KEY DEFAULT nextval('alert_lifecycle_ids'),
    token_id VARCHAR NOT NULL,
    state VARCHAR NOT NULL,            -- expiring_soon | rotated_still_used | stale
    on_ns BIGINT NOT NULL,             -- the evaluation that found it on
    off_ns BIGINT,                     -- the evaluation that found it off; NULL while on
    owner VARCHAR,                     -- token_dim's, when it turned on
    name VARCHAR,
    details JSON NOT NULL              -- the facts the alert quotes, as they were then
);

-- last_updated_ns of 'lifecycle': the instant (the dispatcher's clock) of the latest
-- evaluation; 0 until the first. last_finding_id is unused (0).
INSERT INTO alert_state VALUES ('lifecycle', 0, 0);

-- A delivery is now of a finding or of a lifecycle state turning on: the key names which.
-- DuckDB cannot change a primary key in place, so the table is rebuilt.
CREATE TABLE alert_deliveries_301 (
    rule_name VARCHAR NOT NULL,
    source VARCHAR NOT NULL,           -- finding | lifecycle
    source_id UBIGINT NOT NULL,        -- findings.id or alert_lifecycle.id
    status VARCHAR NOT NULL,           -- pending | delivered | failed
    attempts UINTEGER NOT NULL DEFAULT 0,
    http_status USMALLINT,             -- of the last attempt that got an answer
    last_error VARCHAR,                -- of the last failed attempt (never the URL's secrets)
    queued_at_ns BIGINT NOT NULL,      -- wall-clock time the delivery was recorded
    updated_at_ns BIGINT NOT NULL,     -- wall-clock time of its latest attempt
    PRIMARY KEY (rule_name, source, source_id)
);
INSERT INTO alert_deliveries_301
SELECT rule_name, 'finding', finding_id, status, attempts, http_status, last_error,
    queued_at_ns, updated_at_ns
FROM alert_deliveries;
DROP TABLE alert_deliveries;
ALTER TABLE alert_deliveries_301 RENAME TO alert_deliveries;
