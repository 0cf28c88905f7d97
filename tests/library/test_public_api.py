"""The public front: what ``import tokentrace`` exports, and that it stays import-light."""

import subprocess
import sys
from types import ModuleType

import tokentrace


def test_all_names_are_exported_and_documented() -> None:
    for name in tokentrace.__all__:
        member = getattr(tokentrace, name)
        if callable(member):
            assert member.__doc__, f"tokentrace.{name} has no docstring"
    public = {
        name
        for name in dir(tokentrace)
        if not name.startswith("_") and not isinstance(getattr(tokentrace, name), ModuleType)
    }
    assert public == set(tokentrace.__all__) - {"__version__"}


def test_import_does_not_pull_in_the_backend_stack() -> None:
    code = (
        "import sys, tokentrace; "
        "print(sorted(m for m in ('duckdb', 'fastapi', 'pyarrow') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
