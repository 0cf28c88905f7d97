"""The storage layer's SQL statements, kept as ``.sql`` files beside this module."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_query(name: str) -> str:
    """The text of ``queries/<name>.sql``."""
    return (resources.files(__name__) / f"{name}.sql").read_text("utf-8")
