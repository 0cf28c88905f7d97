"""The tokentrace correlation backend: OTLP ingest into DuckDB and the token API."""
