"""What the API needs of the storage layer: read cursors, nothing else."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

import duckdb


class ReadableDatabase(Protocol):
    """``tokentrace_backend.storage.Database`` as the API sees it."""

    def reader(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A cursor for read queries, closed on exit."""
        ...
