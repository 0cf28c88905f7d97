-- A single trace, by id.
selected_traces AS (
    SELECT $trace_id::BLOB AS trace_id
)
