"""The ``tokentrace`` command line.

The library registers its own command (``hash``); the backend, when its extra is
installed, adds ``serve``, ``demo`` and the query commands through
``tokentrace_backend.cli.add_commands(subparsers)``. Each subcommand stores its handler with
``set_defaults(func=handler)``; a handler takes the parsed namespace and returns an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from tokentrace._hash_command import add_command as add_hash_command

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokentrace",
        description="API tokens as first-class citizens of OpenTelemetry traces.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_hash_command(subparsers)
    _add_backend_commands(subparsers)
    return parser


def _add_backend_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try:
        from tokentrace_backend.cli import add_commands
    except ImportError:
        for name in ("serve", "demo", "tokens", "token", "errors"):
            command = subparsers.add_parser(name, help="needs: pip install 'tokentrace[backend]'")
            command.set_defaults(func=_backend_missing)
        return
    add_commands(subparsers)


def _backend_missing(args: argparse.Namespace) -> int:
    print(
        f"tokentrace {args.command}: the backend is not installed; "
        "run: pip install 'tokentrace[backend]'",
        file=sys.stderr,
    )
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "func", None)
    if handler is None:
        parser.print_help()
        return 2
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
