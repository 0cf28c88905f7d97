"""``/api/dependencies``: the global service graph."""

from __future__ import annotations

from fastapi import APIRouter

from tokentrace_backend import queries
from tokentrace_backend.queries.results import DependencyGraph

from .dependencies import Cursor
from .parameters import Filters

router = APIRouter(prefix="/dependencies", tags=["dependencies"])


@router.get("", response_model=DependencyGraph)
def global_dependencies(cursor: Cursor, filters: Filters) -> DependencyGraph:
    """Every service -> service / database / messaging edge in the window."""
    return queries.global_dependencies(cursor, filters)
