"""The tokentrace correlation backend: OTLP ingest into DuckDB, the derived per-token
tables, and the correlation API and commands over them.

One package per stage of the data flow (docs/architecture.md draws it):

    ingest/    OTLP/HTTP in → decoded rows          (never touches DuckDB)
    storage/   the DuckDB file, schema, the writer  (knows nothing of OTLP or HTTP)
    derived/   linking and per-token tables         (reads spans, writes only its tables)
    queries/   the correlation queries              (read only, no HTTP)
    api/       HTTP over the queries                (no SQL)
    cli/       the tokentrace commands              (parse and print)
    scenario/  the reference scenario of the demo   (a client of the backend)

plus ``settings`` (every ``TOKENTRACE_*`` variable) and ``server`` (``tokentrace serve``:
the process that wires the stages together).
"""
