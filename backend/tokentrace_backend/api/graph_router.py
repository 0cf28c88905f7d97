"""``/api/dependencies``: the global service graph."""

from __future__ import annotations

from fastapi import APIRouter

from tokentrace_backend import queries
from tokentrace_backend.queries.graph_layout import layered_layout
from tokentrace_backend.queries.results import DependencyGraph

from .dependencies import Cursor
from .parameters import Filters, WithLayout

router = APIRouter(prefix="/dependencies", tags=["dependencies"])


@router.get("", response_model=DependencyGraph)
def global_dependencies(
    cursor: Cursor, filters: Filters, layout: WithLayout = False
) -> DependencyGraph:
    """Every service -> service / database / messaging edge in the window."""
    return with_layout(queries.global_dependencies(cursor, filters), layout)


def with_layout(graph: DependencyGraph, wanted: bool) -> DependencyGraph:
    """The graph, with node positions when ``wanted``."""
    return graph.model_copy(update={"layout": layered_layout(graph)}) if wanted else graph
