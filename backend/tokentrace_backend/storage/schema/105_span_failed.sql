-- Migration 105 (derived tables): what "failed" means for a span, in one place for every
-- statement that asks (the derived tables' linking, the refresh's fast path): status ERROR,
-- a SERVER span answering 5xx, or an exception recorded on it.
CREATE MACRO span_failed(status_code, kind, http_status, error_type) AS (
    status_code = 2
    OR (kind = 2 AND coalesce(http_status, 0) >= 500)
    OR error_type IS NOT NULL
);
