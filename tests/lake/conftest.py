"""Fixtures for lake mode's tests: a throwaway PostgreSQL server (the lake's catalog and
its advisory locks) and ``tokentrace serve`` nodes sharing one lake, each a real process of
the lake environment (``.venv-lake``: DuckDB 1.5.5 with the signed extension binaries of
PyPI; the tests themselves run in ``.venv``, whose DuckDB cannot load them).

Without PostgreSQL's server binaries or ``.venv-lake`` (``scripts/test`` makes it) the tests
that need them skip, saying so; under CI (``CI=true``) either missing is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lake.lake_nodes import LAKE_TOKENTRACE, LAKE_VENV, missing, new_catalog
from tokentrace_backend.scenario.postgres import PostgresServer, find_postgres_bin


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session; each test or module makes its databases."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        missing("PostgreSQL server binaries (apt-get install postgresql) for lake mode's tests")
    assert bin_dir is not None
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def catalog(postgres: PostgresServer) -> str:
    """A new, empty catalog database: its URL."""
    return new_catalog(postgres)


@pytest.fixture(scope="session")
def lake_tokentrace() -> list[str]:
    """The ``tokentrace`` command of the lake environment."""
    if not LAKE_TOKENTRACE.exists():
        missing(f"{LAKE_VENV} with tokentrace[lake] installed (scripts/test makes it)")
    return [str(LAKE_TOKENTRACE)]
