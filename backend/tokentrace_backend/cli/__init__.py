"""The backend's commands for the ``tokentrace`` command line: ``serve``, ``demo`` and the
query commands (``tokens``, ``token ID``, ``errors ID``, ``report ID``), ``redetect``, and
``audit verify|export|public-key`` and ``erase`` (``audit``).

Each command module exposes ``add_commands(subparsers)`` and registers its subcommands with
``set_defaults(func=handler)``; a handler takes the parsed namespace and returns an exit
code. Commands parse arguments and print; what they run lives in the packages of the data
flow (``server`` for serve, the HTTP API for the query commands, ``scenario`` for demo).
"""

from __future__ import annotations

from tokentrace.cli import Subparsers
from tokentrace_backend.cli import audit, demo, query, redetect, report, serve


def add_commands(subparsers: Subparsers) -> None:
    """Register the backend's subcommands."""
    for module in (serve, query, report, demo, redetect, audit):
        module.add_commands(subparsers)
