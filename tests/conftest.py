"""Settings for the whole suite.

tokentrace's own errors are logged and swallowed in production; here they propagate
(``TOKENTRACE_RAISE_INTERNAL_ERRORS``), in this process and in every server the tests start,
so that a swallowed bug fails a test. Tests that inject failures on purpose ask for
``swallowed_internal_errors``.
"""

from __future__ import annotations

import os

import pytest

from tokentrace._settings import ENV_RAISE_INTERNAL_ERRORS

os.environ[ENV_RAISE_INTERNAL_ERRORS] = "true"


@pytest.fixture
def swallowed_internal_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """tokentrace's production behaviour: its own errors are logged once and swallowed (in
    this process: servers a test starts keep the suite's setting unless given another)."""
    monkeypatch.setenv(ENV_RAISE_INTERNAL_ERRORS, "false")
