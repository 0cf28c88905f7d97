-- Migration 500 (retention, 500-599): the daily per-token roll-ups that outlive the raw
-- spans, and how far retention has expired them (retention/).
--
-- Before the spans and derived rows of a day expire (--retention, 14d by default), the
-- retention job adds their counts here, per token and epoch day of event time
-- (start_ns // 86400e9); the roll-ups are kept --rollup-retention (400d). Rows add up: a
-- (token, day, ...) may have several rows (late spans of a day already rolled up add
-- another), and every reader sums them. Durations are histograms in the log buckets of
-- call_minutes (bucket b holds d with floor(8 * log2(d_us + 1)) = b, about 9% wide), so
-- the quantiles of any set of days are read from the merged histograms (within ~5%).

-- Requests, by everything the token summary groups them by.
CREATE TABLE token_request_days (
    token_number UINTEGER NOT NULL,
    day BIGINT NOT NULL,
    service_name VARCHAR NOT NULL,
    http_method VARCHAR,
    http_route VARCHAR,
    auth_outcome VARCHAR NOT NULL,
    client_address VARCHAR,
    user_agent VARCHAR,
    failed BOOLEAN NOT NULL,
    requests BIGINT NOT NULL,
    first_ns BIGINT NOT NULL,
    last_ns BIGINT NOT NULL,
    max_us UINTEGER NOT NULL,
    duration_buckets MAP(USMALLINT, BIGINT) NOT NULL
);

-- Dependency calls made on behalf of a token (token_number NULL: no token).
CREATE TABLE token_call_days (
    token_number UINTEGER,
    day BIGINT NOT NULL,
    source VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    target_kind VARCHAR NOT NULL,
    calls BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    duration_buckets MAP(USMALLINT, BIGINT) NOT NULL
);

-- Failing spans linked to a token, by service, span name and error kind.
CREATE TABLE token_failure_days (
    token_number UINTEGER NOT NULL,
    day BIGINT NOT NULL,
    service_name VARCHAR NOT NULL,
    span_name VARCHAR NOT NULL,
    error_kind VARCHAR,
    failures BIGINT NOT NULL,
    first_ns BIGINT NOT NULL,
    last_ns BIGINT NOT NULL
);

-- Event time before which the raw spans and derived rows have expired (0: never run):
-- answers about earlier times come from the roll-ups.
CREATE TABLE retention_state (
    expired_before_ns BIGINT NOT NULL,
    runs UBIGINT NOT NULL
);
INSERT INTO retention_state VALUES (0, 0);
