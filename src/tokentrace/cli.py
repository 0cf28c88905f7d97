"""The ``tokentrace`` command line.

The library has one command of its own, ``hash``; the backend, when its extra is
installed, adds ``serve``, ``demo`` and the query commands through
``tokentrace_backend.cli.add_commands(subparsers)``. Each subcommand stores its handler with
``set_defaults(func=handler)``; a handler takes the parsed namespace and returns an exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TypeAlias

from tokentrace._fingerprint import default_fingerprinter
from tokentrace._settings import ENV_HASH_KEY

Handler = Callable[[argparse.Namespace], int]
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

# What the backend extra adds, for the hint when it is not installed (a test checks that
# this is what the backend registers).
BACKEND_COMMANDS = (
    "serve",
    "tokens",
    "token",
    "errors",
    "report",
    "demo",
    "redetect",
    "audit",
    "erase",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokentrace",
        description="API tokens as first-class citizens of OpenTelemetry traces.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_hash_command(subparsers)
    _add_backend_commands(subparsers)
    return parser


# --- tokentrace hash [TOKEN] ---------------------------------------------------------------


def _add_hash_command(subparsers: Subparsers) -> None:
    command = subparsers.add_parser(
        "hash",
        help="fingerprint a token (as tokentrace.token.id) under TOKENTRACE_HASH_KEY",
        description=(
            "Print the token id of TOKEN (read from stdin when omitted, so it stays out "
            "of your shell history). Uses TOKENTRACE_HASH_KEY, like the middleware."
        ),
    )
    command.add_argument("token", nargs="?", help="the raw token (default: read stdin)")
    command.add_argument("--key-id", action="store_true", help="also print the key id")
    command.set_defaults(func=_run_hash)


def _run_hash(args: argparse.Namespace) -> int:
    raw: str | None = args.token
    if raw is None:
        raw = sys.stdin.readline().rstrip("\r\n")
    if not raw:
        print("tokentrace hash: no token given", file=sys.stderr)
        return 2
    if not os.environ.get(ENV_HASH_KEY):
        print(
            f"tokentrace hash: {ENV_HASH_KEY} is not set; a fingerprint under a random key "
            "would match nothing. Set the key your services use.",
            file=sys.stderr,
        )
        return 2
    fingerprinter = default_fingerprinter()
    token_id = fingerprinter.fingerprint(raw)
    print(f"{token_id}  key_id={fingerprinter.key_id}" if args.key_id else token_id)
    return 0


# --- the backend's commands ----------------------------------------------------------------


def _add_backend_commands(subparsers: Subparsers) -> None:
    try:
        from tokentrace_backend.cli import add_commands
    except ModuleNotFoundError as error:
        # Without the backend extra its dependencies (duckdb, fastapi, httpx, ...) are
        # missing; a missing module of tokentrace's own is a bug, not a missing extra.
        if error.name is None or error.name.startswith("tokentrace"):
            raise
        missing = error.name
        for name in BACKEND_COMMANDS:
            command = subparsers.add_parser(name, help="needs: pip install 'tokentrace[backend]'")
            command.set_defaults(func=_backend_missing, missing_module=missing)
        return
    add_commands(subparsers)


def _backend_missing(args: argparse.Namespace) -> int:
    print(
        f"tokentrace {args.command}: the backend is not installed (no module "
        f"{args.missing_module!r}); run: pip install 'tokentrace[backend]'",
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
