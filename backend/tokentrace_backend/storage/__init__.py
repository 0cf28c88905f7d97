"""Storage: the DuckDB database (schema, migrations) and its single writer."""

from __future__ import annotations

from tokentrace_backend.storage.database import Database
from tokentrace_backend.storage.migrations import apply_migrations, migration_files

__all__ = ["Database", "apply_migrations", "migration_files"]
