"""The DuckDB extensions lake mode needs, loaded from files installed by pip.

These machines cannot download extensions at run time, and a backend should not anyway:
DuckDB's signed official binaries of ``postgres_scanner`` and ``ducklake`` come in the
``duckdb-extension-postgres-scanner`` and ``duckdb-extension-ducklake`` packages (the
``tokentrace[lake]`` extra), one directory per DuckDB version. They are loaded by path with
DuckDB's signature check on (``allow_unsigned_extensions`` stays false): a binary that is
not signed by DuckDB is refused, whoever packaged it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Final

import duckdb

# Extension name -> the Python package that ships its binary.
EXTENSION_PACKAGES: Final = {
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "ducklake": "duckdb_extension_ducklake",
}

# The connection settings of lake mode: never download or auto-load anything, never load
# an unsigned binary.
CONNECTION_CONFIG: Final[dict[str, str | bool | int | float | list[str]]] = {
    "allow_unsigned_extensions": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


class ExtensionMissing(RuntimeError):
    """An extension binary for this DuckDB version is not installed."""


def extension_file(name: str) -> Path:
    """The binary of extension ``name`` for the running DuckDB version."""
    package = EXTENSION_PACKAGES[name]
    spec = importlib.util.find_spec(package)
    hint = "install the lake extra: pip install 'tokentrace[lake]'"
    if spec is None or spec.origin is None:
        raise ExtensionMissing(f"DuckDB extension {name}: package {package} is missing ({hint})")
    versions = Path(spec.origin).parent / "extensions"
    path = versions / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        found = sorted(entry.name for entry in versions.glob("v*")) if versions.is_dir() else []
        raise ExtensionMissing(
            f"DuckDB extension {name}: {package} has builds for {', '.join(found) or 'nothing'}"
            f", not for DuckDB v{duckdb.__version__} ({hint}; it pins the matching duckdb)"
        )
    return path


def load_extensions(connection: duckdb.DuckDBPyConnection) -> None:
    """Load ``postgres_scanner`` then ``ducklake`` into ``connection`` (signature checked)."""
    for name in EXTENSION_PACKAGES:
        path = str(extension_file(name)).replace("'", "''")
        connection.execute(f"LOAD '{path}'")
