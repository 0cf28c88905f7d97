"""Where to draw a dependency graph's nodes: one layered layout for every drawing of it
(the report page's SVG, the dashboard's graphs through ``?layout=true``).

Callers sit left of what they call: a node's column is the length of the longest call path
reaching it (cycles cut), its row its place within the column.
"""

from __future__ import annotations

from typing import Final

from .results import DependencyGraph, GraphLayout, NodePosition

COLUMN_WIDTH: Final = 270  # room between columns for the edge labels
ROW_HEIGHT: Final = 56
NODE_WIDTH: Final = 150
NODE_HEIGHT: Final = 32
MARGIN: Final = 12


def layered_layout(graph: DependencyGraph) -> GraphLayout | None:
    """Positions of the graph's nodes (top-left corners); None when it has no edges."""
    if not graph.edges:
        return None
    names = [node.name for node in graph.nodes]
    depth = dict.fromkeys(names, 0)
    for _ in names:  # longest path by relaxation; at most one pass per node, so cycles end
        changed = False
        for edge in graph.edges:
            if edge.source != edge.target and depth[edge.target] < depth[edge.source] + 1:
                depth[edge.target] = min(depth[edge.source] + 1, len(names) - 1)
                changed = True
        if not changed:
            break
    rows: dict[int, int] = {}
    positions = []
    for name in names:
        column = depth[name]
        row = rows.get(column, 0)
        rows[column] = row + 1
        positions.append(
            NodePosition(name=name, x=MARGIN + column * COLUMN_WIDTH, y=MARGIN + row * ROW_HEIGHT)
        )
    return GraphLayout(
        width=2 * MARGIN + max(depth.values()) * COLUMN_WIDTH + NODE_WIDTH,
        height=2 * MARGIN + (max(rows.values()) - 1) * ROW_HEIGHT + NODE_HEIGHT,
        node_width=NODE_WIDTH,
        node_height=NODE_HEIGHT,
        positions=positions,
    )
