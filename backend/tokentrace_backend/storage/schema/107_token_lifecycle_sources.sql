-- Migration 107 (derived tables): lifecycle events from two sources, and each token's
-- known expiry.
--
-- token_lifecycle holds the events apps record with tokentrace.record_lifecycle (source
-- 'span', derived from their spans by derived/refresh_lifecycle.sql) and the events that
-- issuers without tokentrace register with POST /api/lifecycle (source 'api', written by
-- derived/lifecycle_registration.py; no trace). The 'api' rows are not derived from spans:
-- whatever rebuilds the derived tables from spans must keep them. `expires_ns` is the
-- expiry an event states (its expires_at), NULL when it states none.
ALTER TABLE token_lifecycle ALTER COLUMN trace_id DROP NOT NULL;
ALTER TABLE token_lifecycle ADD COLUMN source VARCHAR DEFAULT 'span';
ALTER TABLE token_lifecycle ALTER COLUMN source SET NOT NULL;
ALTER TABLE token_lifecycle ADD COLUMN expires_ns BIGINT;

-- token_dim.jwt_expires_ns: the JWT exp its requests carry (tokentrace.token.expires_at);
-- token_dim.expires_ns: its known expiry, known_expiry_ns below. Both are filled for the
-- tokens of the spans derived after this migration (a token's next request fills them).
ALTER TABLE token_dim ADD COLUMN jwt_expires_ns BIGINT;
ALTER TABLE token_dim ADD COLUMN expires_ns BIGINT;

-- tokentrace.token.expires_at (unix seconds) of a span's attributes in nanoseconds; NULL
-- when absent, not a number, or outside what int64 nanoseconds hold (1970 to 2262: the
-- UBIGINT cast refuses what is negative, the BIGINT one what is too large). One
-- extraction: the JSON is parsed once per span (0.2 us per request span here).
CREATE MACRO attribute_expires_ns(attributes) AS TRY_CAST(TRY_CAST(
    TRY_CAST(json_extract_string(attributes, '$."tokentrace.token.expires_at"') AS HUGEINT)
        * 1000000000
    AS UBIGINT) AS BIGINT);

-- The expiry a token's lifecycle states: that of its latest event stating one (an event's
-- expires_at; an 'expired' event without one states its own time). So a renewal extends an
-- earlier stated expiry, and an 'expired' event ends it.
CREATE MACRO stated_expiry_ns(of_token) AS (
    SELECT arg_max(coalesce(expires_ns, CASE WHEN event = 'expired' THEN at_ns END), at_ns)
    FROM token_lifecycle
    WHERE token_id = of_token AND (expires_ns IS NOT NULL OR event = 'expired')
);

-- A token's known expiry, in one place for every statement that sets token_dim.expires_ns
-- (the refresh, a registration) and the queries: the earlier of its JWT exp and the expiry
-- its lifecycle states; either alone when only one is known (least() skips NULLs).
CREATE MACRO known_expiry_ns(jwt_expires_ns, of_token) AS
    least(jwt_expires_ns, stated_expiry_ns(of_token));
