-- Migration 100 (derived tables): derived per-token tables, maintained incrementally by
-- batch_id (tokentrace_backend.derived.refresh.refresh_derived).
--
-- A token's spans are spread over the whole spans table (it is in ingest order), so any
-- per-token question asked of `spans` reads every row group. These tables hold, per token,
-- only what the per-token queries need, with the token as a small integer; they add a few
-- bytes per stored span and make the token queries read a fraction of the data.
-- Trace linking (nearest tagged ancestor) is applied when rows are derived.

-- How far the derived tables have caught up: every span with batch_id <= last_batch_id.
CREATE TABLE derived_state (
    name VARCHAR PRIMARY KEY,
    last_batch_id UBIGINT NOT NULL
);
INSERT INTO derived_state VALUES ('token_tables', 0);

-- One row per token id ever seen; token_number is the key of the tables below.
CREATE TABLE token_dim (
    token_number UINTEGER PRIMARY KEY,
    token_id VARCHAR NOT NULL UNIQUE,
    key_id VARCHAR,
    owner VARCHAR,
    name VARCHAR,
    first_ns BIGINT,
    last_ns BIGINT
);

-- One row per request: a SERVER span tagged by the middleware (it has an auth outcome).
CREATE TABLE token_requests (
    token_number UINTEGER NOT NULL,
    start_ns BIGINT NOT NULL,
    duration_us UINTEGER NOT NULL,
    service_name VARCHAR NOT NULL,
    http_method VARCHAR,
    http_route VARCHAR,
    http_status USMALLINT,
    auth_outcome VARCHAR NOT NULL,
    client_address VARCHAR,
    user_agent VARCHAR,
    failed BOOLEAN NOT NULL
);

-- One row per dependency call (a cross-service client -> server pair, or a client span to
-- a database / messaging system / remote peer), on behalf of the caller's linked token
-- (NULL when the trace carries no token: such calls still count in the global graph).
CREATE TABLE token_calls (
    token_number UINTEGER,
    start_ns BIGINT NOT NULL,
    source VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    target_kind VARCHAR NOT NULL,
    duration_us UINTEGER NOT NULL,
    failed BOOLEAN NOT NULL
);

-- One row per failing span (status ERROR, server 5xx, exception) linked to a token.
CREATE TABLE token_failures (
    token_number UINTEGER NOT NULL,
    start_ns BIGINT NOT NULL,
    service_name VARCHAR NOT NULL,
    span_name VARCHAR NOT NULL,
    error_kind VARCHAR,
    message VARCHAR,
    trace_id BLOB NOT NULL
);

-- Lifecycle spans (tokentrace.lifecycle), by the token they are about.
CREATE TABLE token_lifecycle (
    token_id VARCHAR NOT NULL,
    new_token_id VARCHAR,
    event VARCHAR,
    actor VARCHAR,
    at_ns BIGINT NOT NULL,
    trace_id BLOB NOT NULL
);
