-- Migration 001: the spans table and the deduplicated resources it points into.
--
-- One row per span. The columns that the correlation queries filter, group or join on are
-- promoted out of the OTLP attributes; everything else stays in the `attributes` JSON.
-- `batch_id` is the writer's batch number (monotonically increasing, one per commit), so
-- derived tables can be updated incrementally ("everything after batch N").

CREATE TABLE resources (
    -- 64-bit hash of the canonical JSON of the resource attributes.
    resource_id UBIGINT PRIMARY KEY,
    service_name VARCHAR NOT NULL,
    service_version VARCHAR,
    attributes JSON NOT NULL
);

CREATE TABLE spans (
    trace_id BLOB NOT NULL,            -- 16 bytes
    span_id UBIGINT NOT NULL,          -- the 8 id bytes, big-endian, as an integer
    parent_span_id UBIGINT,            -- NULL for root spans
    service_name VARCHAR NOT NULL,
    service_version VARCHAR,
    name VARCHAR NOT NULL,
    kind UTINYINT NOT NULL,            -- OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer
    start_ns BIGINT NOT NULL,          -- unix nanoseconds
    duration_ns BIGINT NOT NULL,
    status_code UTINYINT NOT NULL,     -- 0 unset, 1 ok, 2 error
    status_message VARCHAR,
    http_method VARCHAR,
    http_route VARCHAR,
    http_status USMALLINT,
    url_path VARCHAR,
    client_address VARCHAR,
    user_agent VARCHAR,
    peer_service VARCHAR,
    db_system VARCHAR,                 -- db.system.name, else db.system
    server_address VARCHAR,
    messaging_system VARCHAR,
    token_id VARCHAR,                  -- tokentrace.token.id (32 hex)
    token_key_id VARCHAR,
    auth_outcome VARCHAR,
    auth_outcome_source VARCHAR,
    token_owner VARCHAR,
    token_name VARCHAR,
    error_type VARCHAR,                -- exception.type of the first exception event, else error.type
    error_message VARCHAR,             -- exception.message of that event
    attributes JSON,                   -- span attributes not promoted above
    resource_id UBIGINT NOT NULL,      -- resources.resource_id
    events JSON,                       -- [{"name", "time_ns", "attributes"}], NULL when none
    batch_id UBIGINT NOT NULL
);
