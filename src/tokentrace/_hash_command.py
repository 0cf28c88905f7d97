"""``tokentrace hash [TOKEN]``: the token id of a known token, to search traces for it."""

from __future__ import annotations

import argparse
import os
import sys

from tokentrace._fingerprint import default_fingerprinter
from tokentrace._settings import ENV_HASH_KEY


def add_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    command.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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
