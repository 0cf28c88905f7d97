"""Backend commands for the ``tokentrace`` command line.

Each command module below exposes ``add_commands(subparsers)`` and registers its
subcommands with ``set_defaults(func=handler)``; a handler takes the parsed namespace and
returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib

_COMMAND_MODULES = (
    "tokentrace_backend.serve_command",  # tokentrace serve
    "tokentrace_backend.query_commands",  # tokentrace tokens | token ID | errors ID
    "tokentrace_backend.demo",  # tokentrace demo
)


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the backend's subcommands."""
    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue  # not written yet
        module.add_commands(subparsers)
