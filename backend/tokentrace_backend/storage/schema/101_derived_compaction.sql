-- Migration 101 (derived tables): compaction bookkeeping of the derived per-token tables.
-- Rows of each table already sorted by (token_number, start_ns) by the last compaction;
-- rows after them are in arrival order (see derived/compaction.py).
CREATE TABLE derived_sorted_rows (
    table_name VARCHAR PRIMARY KEY,
    sorted_rows UBIGINT NOT NULL
);
INSERT INTO derived_sorted_rows VALUES
    ('token_requests', 0), ('token_calls', 0), ('token_failures', 0);
