-- Migration 201: what the detectors (detect/) learn of each token, incrementally, and how
-- far they have read. Hours are epoch hours of event time (start_ns // 3.6e12); rows
-- older than the baseline window are pruned as detection moves on.

-- Batches of spans the detectors have read: (0, last_batch_id]. Never ahead of the
-- derived tables' watermark (derived_state), whose token_failures rows it reads.
CREATE TABLE detect_state (last_batch_id UBIGINT NOT NULL);
INSERT INTO detect_state VALUES (0);

-- Per token and active hour: requests, accepted requests, failed authentications
-- (invalid, expired, revoked) and requests whose trace failed downstream.
CREATE TABLE token_hours (
    token_id VARCHAR NOT NULL,
    hour BIGINT NOT NULL,
    hour_of_week USMALLINT NOT NULL,   -- 0 = Monday 00:00-01:00 UTC
    requests UBIGINT NOT NULL,
    accepted UBIGINT NOT NULL,
    auth_failures UBIGINT NOT NULL,
    errors UBIGINT NOT NULL,
    PRIMARY KEY (token_id, hour)
);

-- Per token, hour and client: the networks (/24, /48) and user agents it was used from
-- (rows are only ever added, one per combination: no counts to update).
CREATE TABLE token_clients (
    token_id VARCHAR NOT NULL,
    hour BIGINT NOT NULL,
    network VARCHAR NOT NULL,
    user_agent VARCHAR NOT NULL
);

-- Per token and day (epoch days of event time): the method + route pairs it used.
CREATE TABLE token_endpoints (
    token_id VARCHAR NOT NULL,
    day BIGINT NOT NULL,
    endpoint VARCHAR NOT NULL          -- 'GET /orders/{id}'
);

-- Per client address and hour: the token ids that failed to authenticate from it.
CREATE TABLE address_failures (
    client_address VARCHAR NOT NULL,
    hour BIGINT NOT NULL,
    token_id VARCHAR NOT NULL,
    failures UBIGINT NOT NULL,
    PRIMARY KEY (client_address, hour, token_id)
);
