"""The ``alpha-env`` command line: one subcommand per user-level capability.

Each subcommand lives in its own module of this package and exposes ``register(subparsers)``, which adds
its parser and sets ``func(args) -> int`` as the handler. Every subcommand accepts ``--json``.
User errors (:class:`alpha_env.errors.AlphaEnvError`) are printed as one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from alpha_env.errors import AlphaEnvError

__all__ = ["main", "build_parser"]

# Modules of this package that define subcommands, in help order.
_COMMAND_MODULES: tuple[str, ...] = (
    "parse",
    "data",
    "simulate",
    "top",
    "report",
    "submit",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="alpha-env",
        description="Alpha Creation Environment: parse, simulate, store and search formulaic alphas.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"alpha_env.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 failed check, 2 user error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AlphaEnvError as exc:
        print(f"alpha-env {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
