"""The correlation API: HTTP over the queries (``/api/*``, OpenAPI at ``/openapi.json``).

Owns the routes (a router per resource), their parameters and validation, the API key,
the mapping of errors to status codes, and the HTML page of a token report
(``report_page``). It reads through ``storage.Database.reader()``
and :mod:`tokentrace_backend.queries`, catches the derived tables up before a query
(``dependencies.fresh_cursor``) and runs their background refresh during its lifespan. It never
writes to DuckDB and holds no SQL of its own.
"""

from __future__ import annotations

from .app import create_api_app

__all__ = ["create_api_app"]
