"""Fixtures: a stored trail per test (the tests tamper with the file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backend.audit.stored_trail import StoredTrail, store_trail


@pytest.fixture
def trail(tmp_path: Path) -> StoredTrail:
    return store_trail(tmp_path)
