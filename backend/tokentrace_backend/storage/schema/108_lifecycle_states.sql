-- Migration 108 (derived tables): the lifecycle states of a token, defined once.
--
-- Every statement that tells whether a token is in a state calls these: the lifecycle of
-- one token (queries/lifecycle.sql), the summary's rotation check (queries/token_summary.sql)
-- and the states of every token at once (queries/lifecycle_states.sql, which the alerts
-- evaluate). Each statement gathers a token's facts its own way (one token, or all tokens
-- grouped) and hands them over; docs/api.md#get-apitokenstoken_idlifecycle states the rules.
-- The facts:
--   last_used_ns    its latest request (token_requests); NULL when never used
--   expires_ns      its known expiry (token_dim.expires_ns, known_expiry_ns of migration 107)
--   retired_ns      its first 'rotated' or 'revoked' event (token_lifecycle, about it)
--   revoked         whether an event about it is 'revoked'
--   known_since_ns  the earliest of its first request, its first event (about it or naming
--                   it as the new token) and its first span
-- Times are unix nanoseconds and windows nanoseconds (LifecycleSettings, in ns); every
-- macro answers true or false, never NULL. Changing a rule means a new migration that
-- replaces the macro (CREATE OR REPLACE MACRO).

-- In use: its last request is less than the in-use window before now.
CREATE MACRO lifecycle_in_use(last_used_ns, now_ns, in_use_ns) AS
    coalesce(now_ns - last_used_ns < in_use_ns, false);

-- Expired: its known expiry is not after now.
CREATE MACRO lifecycle_expired(expires_ns, now_ns) AS
    coalesce(expires_ns <= now_ns, false);

-- expiring_soon: in use, and its known expiry is after now and at most the expiring window
-- after it (a short-lived token, a one-hour JWT, is expiring soon whenever it is in use).
CREATE MACRO lifecycle_expiring_soon(last_used_ns, expires_ns, now_ns, in_use_ns, expiring_ns) AS
    lifecycle_in_use(last_used_ns, now_ns, in_use_ns)
    AND coalesce(now_ns < expires_ns AND expires_ns <= now_ns + expiring_ns, false);

-- rotated_still_used: a request came after its first rotated or revoked event, and the
-- latest such request (its last request) is in use.
CREATE MACRO lifecycle_rotated_still_used(retired_ns, last_used_ns, now_ns, in_use_ns) AS
    coalesce(last_used_ns > retired_ns, false)
    AND lifecycle_in_use(last_used_ns, now_ns, in_use_ns);

-- stale: live (not revoked, not expired) and unused for the stale window: since its last
-- request or, never used, since it was first known.
CREATE MACRO lifecycle_stale(revoked, expires_ns, last_used_ns, known_since_ns, now_ns, stale_ns) AS
    NOT coalesce(revoked, false)
    AND NOT lifecycle_expired(expires_ns, now_ns)
    AND coalesce(now_ns - coalesce(last_used_ns, known_since_ns) >= stale_ns, false);
