-- Migration 200: findings, what the detectors (detect/) found. Migrations 200-299 belong to
-- detection. One row per incident: while a finding is open or acknowledged, new evidence
-- of the same (kind, token_id, client_address, subject) updates it instead of opening
-- another; once resolved, a recurrence opens a new one.
CREATE SEQUENCE finding_ids START 1;

CREATE TABLE findings (
    id UBIGINT PRIMARY KEY DEFAULT nextval('finding_ids'),
    kind VARCHAR NOT NULL,             -- an anomaly kind (detect/kinds.py)
    token_id VARCHAR,                  -- NULL for the per-address kinds
    client_address VARCHAR,            -- the address or network involved, when there is one
    subject VARCHAR NOT NULL,          -- what within (kind, token) it is about: a route, a network, an hour
    severity VARCHAR NOT NULL,         -- low | medium | high | critical
    state VARCHAR NOT NULL DEFAULT 'open',  -- open | acknowledged | resolved
    summary VARCHAR NOT NULL,          -- one line: what was unusual compared with what
    baseline JSON NOT NULL,            -- what it was compared with
    evidence JSON NOT NULL,            -- {"trace_ids": [...], "counts": {...}, route | address | hour ...}
    first_ns BIGINT NOT NULL,          -- event time of the first evidence
    last_ns BIGINT NOT NULL,           -- event time of the latest evidence
    detected_at_ns BIGINT NOT NULL,    -- wall-clock time the finding was opened
    updated_at_ns BIGINT NOT NULL,     -- wall-clock time of the latest change
    state_changed_by VARCHAR           -- who changed the state last (PATCH /api/anomalies/{id})
);
