-- Migration 300: alert delivery (alerts/). Migrations 300-399 belong to alerting.
--
-- The dispatcher reads the findings with an id above alert_state.last_finding_id (and those
-- updated after last_updated_ns), records one delivery per (rule, finding) it matches and
-- moves the marks, in one transaction: a restart neither re-sends nor skips. It starts at
-- the findings that exist now, so adding alerting to a database does not send its backlog.
CREATE TABLE alert_state (
    name VARCHAR PRIMARY KEY,
    last_finding_id UBIGINT NOT NULL,
    last_updated_ns BIGINT NOT NULL
);
INSERT INTO alert_state
SELECT 'findings', coalesce(max(id), 0), coalesce(max(updated_at_ns), 0) FROM findings;

-- One row per alert: a finding sent (or being sent) to one rule's webhook.
CREATE TABLE alert_deliveries (
    rule_name VARCHAR NOT NULL,
    finding_id UBIGINT NOT NULL,       -- findings.id
    status VARCHAR NOT NULL,           -- pending | delivered | failed
    attempts UINTEGER NOT NULL DEFAULT 0,
    http_status USMALLINT,             -- of the last attempt that got an answer
    last_error VARCHAR,                -- of the last failed attempt (never the URL's secrets)
    queued_at_ns BIGINT NOT NULL,      -- wall-clock time the delivery was recorded
    updated_at_ns BIGINT NOT NULL,     -- wall-clock time of its latest attempt
    PRIMARY KEY (rule_name, finding_id)
);
