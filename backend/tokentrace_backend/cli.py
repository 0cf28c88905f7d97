"""Backend commands for the ``tokentrace`` command line (``serve``, ``demo``, queries)."""

from __future__ import annotations

import argparse


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the backend's subcommands; each sets ``func`` to its handler."""
