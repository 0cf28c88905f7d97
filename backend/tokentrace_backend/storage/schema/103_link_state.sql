-- Migration 103 (derived tables): the link state of the derived tables' refresh
-- (derived/refresh.py).
--
-- A refresh links the spans of the batches it derives with the earlier spans of their
-- traces that can still matter, kept here instead of being looked up in `spans` (which
-- would scan every recent span at each refresh): calls whose other side has not arrived
-- yet (a CLIENT/PRODUCER span without its SERVER/CONSUMER child, or the child without its
-- parent), and spans without a token of their own (the parents of later untagged spans,
-- or waiting for a tagged ancestor). Rows leave when their trace no longer needs them, or
-- when they are older than the link window (by arrival, derived/refresh.py).
CREATE TABLE link_spans (
    trace_id BLOB NOT NULL,
    span_id UBIGINT NOT NULL,
    parent_span_id UBIGINT,
    service_name VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    kind UTINYINT NOT NULL,
    start_ns BIGINT NOT NULL,
    duration_ns BIGINT NOT NULL,
    status_code UTINYINT NOT NULL,
    status_message VARCHAR,
    http_status USMALLINT,
    peer_service VARCHAR,
    db_system VARCHAR,
    server_address VARCHAR,
    messaging_system VARCHAR,
    token_id VARCHAR,          -- the span's own tokentrace.token.id
    linked_token_id VARCHAR,   -- the token it was linked to (NULL: none yet)
    error_type VARCHAR,
    error_message VARCHAR,
    batch_id UBIGINT NOT NULL  -- the batch it arrived in
);
