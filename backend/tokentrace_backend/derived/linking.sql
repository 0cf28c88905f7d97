-- Trace-level token linking, appended after a `trace_spans` CTE: the spans to link, with
-- every span column plus `known_token_id` (the span's own token, or for a span linked by an
-- earlier refresh, the token it was linked to).
--
-- Every span gets a `linked_token_id`:
--   1. its known token (its own tokentrace.token.id when it carries one: the middleware or
--      the baggage processor put it there);
--   2. otherwise the token of its nearest ancestor with a known token (services without
--      tokentrace);
--   3. otherwise, with no such ancestor at all (an untagged root, a missing parent), the
--      token of the trace's earliest tagged span.
-- Only the traces with a span of unknown token are walked, and the walk only starts from
-- those spans and stops at the first ancestor with a known one, so its cost follows the
-- untagged spans, not the traces' size: when every service runs tokentrace there is nothing
-- to walk. Depth is capped against cycles.
unknown_spans AS MATERIALIZED (
    SELECT trace_id, span_id, parent_span_id FROM trace_spans WHERE known_token_id IS NULL
),
walked_traces AS MATERIALIZED (
    SELECT trace_id, span_id, parent_span_id, known_token_id, token_id, start_ns
    FROM trace_spans
    SEMI JOIN unknown_spans AS u USING (trace_id)
),
untagged_walk(trace_id, span_id, ancestor_id, token_id, depth) AS (
    SELECT trace_id, span_id, parent_span_id, NULL::VARCHAR, 0
    FROM unknown_spans
    UNION ALL
    SELECT w.trace_id, w.span_id, p.parent_span_id, p.known_token_id, w.depth + 1
    FROM untagged_walk AS w
    JOIN walked_traces AS p ON p.trace_id = w.trace_id AND p.span_id = w.ancestor_id
    WHERE w.token_id IS NULL AND w.depth < 64
),
nearest_tagged AS (
    SELECT trace_id, span_id, any_value(token_id) AS token_id
    FROM untagged_walk
    WHERE token_id IS NOT NULL
    GROUP BY trace_id, span_id
),
trace_default_token AS (
    SELECT trace_id, arg_min(token_id, start_ns) AS token_id
    FROM walked_traces
    WHERE token_id IS NOT NULL
    GROUP BY trace_id
),
linked_spans AS (
    SELECT
        s.*,
        coalesce(s.known_token_id, n.token_id, d.token_id) AS linked_token_id,
        span_failed(s.status_code, s.kind, s.http_status, s.error_type) AS failed
    FROM trace_spans AS s
    LEFT JOIN nearest_tagged AS n ON n.trace_id = s.trace_id AND n.span_id = s.span_id
    LEFT JOIN trace_default_token AS d ON d.trace_id = s.trace_id
)
