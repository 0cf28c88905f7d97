"""The layout docs/architecture.md describes, checked: which backend package may import
which, the library's independence from the backend, and one vocabulary in SQL too."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tokentrace import attributes

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "src" / "tokentrace"
BACKEND = REPO / "backend" / "tokentrace_backend"

# Each part of the backend, and the other parts it may import (storage is the base; a
# stage reads only the ones before it; the scenario is a client of the backend).
ALLOWED = {
    "settings": set(),
    # How the API key and the ingest key are read from Authorization and compared.
    "bearer": set(),
    "storage": set(),
    "ingest": {"storage", "settings", "bearer"},
    "derived": {"storage"},
    # detect follows derived by batch (through SQL on its tables) and owns findings.
    "detect": {"storage"},
    "queries": {"storage", "derived", "detect"},
    # alerts reads findings (detect's vocabulary of kinds and severities) and the derived
    # tables' state; api serves its rules, deliveries and metrics; server runs its dispatcher.
    "alerts": {"storage", "queries", "detect"},
    # audit records what the other stages derived (SQL on their tables, as a follower of the
    # refresh thread) and erases a token's rows everywhere (its one list, TOKEN_ROWS); api
    # appends its actions and serves the trail, cli verifies and exports it.
    "audit": {"storage"},
    # The dashboard is static files (and the routes serving them); api installs it.
    "dashboard": set(),
    "api": {
        "storage",
        "derived",
        "detect",
        "queries",
        "alerts",
        "settings",
        "audit",
        "dashboard",
        "bearer",
    },
    # retention rolls up and deletes what expired (SQL on the tables of derived and detect),
    # as a follower of the refresh thread that server wires up.
    "retention": {"storage"},
    "server": {
        "storage",
        "ingest",
        "api",
        "alerts",
        "settings",
        "detect",
        "derived",
        "retention",
        "audit",
    },
    # redetect opens the database itself (the server stopped), as serve does through server.
    "cli": {"settings", "server", "scenario", "storage", "derived", "detect", "audit"},
    # The scenario is a client of the backend; its incidents are named by detect's kinds.
    "scenario": {"detect"},
}


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def _part(path: Path) -> str:
    relative = path.relative_to(BACKEND)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


@pytest.mark.parametrize(
    "path", sorted(BACKEND.rglob("*.py")), ids=lambda path: str(path.relative_to(BACKEND))
)
def test_a_backend_module_imports_only_the_parts_before_it(path: Path) -> None:
    part = _part(path)
    if part == "__init__":
        return
    used = {
        module.split(".")[1]
        for module in _imported_modules(path)
        if module.startswith("tokentrace_backend.")
    } - {part}
    assert used <= ALLOWED[part], f"{part} may not import {sorted(used - ALLOWED[part])}"


def test_the_library_loads_the_backend_only_for_its_commands() -> None:
    importers = sorted(
        str(path.relative_to(LIBRARY))
        for path in LIBRARY.rglob("*.py")
        if any(module.startswith("tokentrace_backend") for module in _imported_modules(path))
    )
    assert importers == ["cli.py"]


_SQL_NAME = re.compile(r"""['"](tokentrace\.[a-z_.]+)['"]""")
_SQL_OUTCOME = re.compile(r"auth_outcome\s*(?:=|<>|!=)\s*'([a-z_]+)'")


def test_names_and_values_in_the_backends_sql_are_the_vocabularys() -> None:
    names = {value for value in vars(attributes).values() if isinstance(value, str)}
    outcomes = {outcome.value for outcome in attributes.AuthOutcome}
    found = []
    for path in sorted(BACKEND.rglob("*.sql")):
        text = path.read_text(encoding="utf-8")
        found += [(path.name, name, name in names) for name in _SQL_NAME.findall(text)]
        found += [(path.name, value, value in outcomes) for value in _SQL_OUTCOME.findall(text)]
    assert found, "the SQL files spell out no attribute name at all: is the pattern stale?"
    assert [item for item in found if not item[2]] == []
