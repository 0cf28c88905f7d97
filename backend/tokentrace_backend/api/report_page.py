"""The HTML page of a token report (``GET /api/tokens/{id}/report?format=html``).

One self-contained document for an incident ticket: inline CSS, an inline SVG of the
dependency map, no script and nothing fetched. Span names, routes, user agents, messages
and finding summaries come from the traced apps and their clients, so they are
attacker-controlled: the template (``report_page.html`` beside this module) is rendered by
Jinja2 with autoescaping on for every value, control characters are shown escaped
(``\\x1b``: the page may be printed to a terminal by ``tokentrace report --format html``),
and the response forbids scripts outright (:data:`PAGE_HEADERS`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Final

import jinja2

from tokentrace_backend.queries.graph_layout import layered_layout
from tokentrace_backend.queries.report import evidence_trace_ids
from tokentrace_backend.queries.results import DependencyGraph, TokenReport

PAGE_HEADERS: Final = {
    # Defence in depth behind the escaping: no script, no fetch, only the inline styles.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_MAX_LABEL: Final = 22


def render_report_page(report: TokenReport) -> str:
    """The report as one HTML document, every value escaped."""
    return _template().render(
        report=report,
        drawing=dependency_drawing(report.dependencies),
        evidence={finding.id: evidence_trace_ids(finding) for finding in report.findings.findings},
    )


@dataclass(frozen=True)
class DrawnNode:
    name: str
    label: str
    kind: str
    x: int
    y: int


@dataclass(frozen=True)
class DrawnEdge:
    x1: int
    y1: int
    x2: int
    y2: int
    failed: bool


@dataclass(frozen=True)
class Drawing:
    width: int
    height: int
    node_width: int
    node_height: int
    nodes: list[DrawnNode]
    edges: list[DrawnEdge]


def dependency_drawing(graph: DependencyGraph) -> Drawing | None:
    """The graph drawn with the shared layered layout; None without edges."""
    layout = layered_layout(graph)
    if layout is None:
        return None
    kinds = {node.name: node.kind for node in graph.nodes}
    placed = {
        position.name: DrawnNode(
            name=position.name,
            label=_shorten(position.name, _MAX_LABEL),
            kind=kinds[position.name],
            x=position.x,
            y=position.y,
        )
        for position in layout.positions
    }
    middle = layout.node_height // 2
    edges = [
        DrawnEdge(
            x1=placed[edge.source].x + layout.node_width,
            y1=placed[edge.source].y + middle,
            x2=placed[edge.target].x,
            y2=placed[edge.target].y + middle,
            failed=edge.errors > 0,
        )
        for edge in graph.edges
        if edge.source != edge.target
    ]
    return Drawing(
        width=layout.width,
        height=layout.height,
        node_width=layout.node_width,
        node_height=layout.node_height,
        nodes=list(placed.values()),
        edges=edges,
    )


@cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        autoescape=True,  # every {{ value }} is escaped, whatever the template's name
        undefined=jinja2.StrictUndefined,
        finalize=_printable,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(when=_when, ms=_ms, duration=_duration, yes_no=_yes_no)
    text = resources.files(__package__).joinpath("report_page.html").read_text("utf-8")
    return environment.from_string(text)


def _printable(value: object) -> object:
    """A value's control and format characters (escape sequences, bidi overrides) shown
    escaped; the template's own markup (a macro's output) as it is."""
    if not isinstance(value, str) or hasattr(value, "__html__"):  # markup is already safe
        return value
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in {"Cc", "Cf"}
        else char
        for char in value
    )


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _duration(value_ms: float | None) -> str:
    """A duration as a reader takes it in: 850.0 ms, 42.5 s, 10 min 0 s, 3 h 5 min, 2 d 4 h."""
    if value_ms is None:
        return "-"
    if value_ms < 1_000:
        return f"{value_ms:.1f} ms"
    seconds = value_ms / 1_000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    if days:
        return f"{days} d {hour} h"
    if hours:
        return f"{hours} h {minute} min"
    return f"{minutes} min {second} s"


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
