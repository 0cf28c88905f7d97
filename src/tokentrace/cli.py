"""The ``tokentrace`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tokentrace")
    parser.parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
