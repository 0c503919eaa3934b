"""The ``alpha-env`` command line: one subcommand per user-level capability.

Each subcommand lives in its own module of this package and exposes ``register(subparsers)``, which adds
its parser and sets ``func(args) -> int`` as the handler. Every subcommand accepts ``--json``.
User errors (:class:`alpha_env.errors.AlphaEnvError`) are printed as one line on stderr with exit code 2.

Start-up stays light: :func:`main` imports only the module of the subcommand being run; the others are
listed by their one-line summary (:data:`SUMMARIES`), so ``alpha-env --help`` loads neither Numba, SciPy
nor pandas. An expression argument that starts with ``-`` (``alpha-env parse "-rank(close)"``) is taken
as the expression, not as an option. Output cut short by a closed pipe (``... --json | head``) ends
quietly with exit code 141, as a process killed by SIGPIPE would.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Collection, Sequence

from alpha_env.errors import AlphaEnvError

__all__ = ["main", "build_parser", "SUMMARIES", "EXIT_BROKEN_PIPE"]

# Modules of this package that define subcommands, in help order.
_COMMAND_MODULES: tuple[str, ...] = (
    "parse",
    "data",
    "simulate",
    "top",
    "report",
    "submit",
    "pool",
    "serve",
    "generate",
    "library",
)

# What `alpha-env --help` lists for each subcommand (its module is not imported to print this).
SUMMARIES: dict[str, str] = {
    "parse": "parse an alpha expression and show its canonical forms",
    "data": "inspect and check market datasets",
    "simulate": "backtest an alpha expression, print its metrics per split and store it",
    "top": "list the best stored alphas",
    "report": "show a stored alpha (metrics per split and year, checks, submissions)",
    "submit": "check a stored alpha and record its submission",
    "pool": "simulate, build from the store or show a pool of alphas combined by fitted weights",
    "serve": "browse the alpha store in a read-only web dashboard",
    "generate": "sample alphas from the trained actor conditioned on news, simulate and rank them (rl extra)",
    "library": "the 101 alphas and Alpha158: list them, simulate them, their best and their pool",
}

#: Exit code of a command whose output pipe was closed by the reader (128 + SIGPIPE).
EXIT_BROKEN_PIPE = 141


def build_parser(full: Collection[str] | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser.

    Args:
        full: the subcommands registered with all their options (their modules are imported); the
            others get a placeholder that only names them. ``None`` registers every subcommand in full.
    """
    parser = argparse.ArgumentParser(
        prog="alpha-env",
        description="Alpha Creation Environment: parse, simulate, store and search formulaic alphas.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        if full is None or name in full:
            importlib.import_module(f"alpha_env.cli.{name}").register(sub)
        else:
            sub.add_parser(name, help=SUMMARIES.get(name), add_help=False)
    return parser


def _expression_first(parser: argparse.ArgumentParser, command: str, argv: list[str]) -> list[str]:
    """``argv`` with an expression that starts with ``-`` moved behind ``--`` (so it is not an option).

    Applies to subcommands with an ``expression`` argument: the first argument after the command that
    starts with a single ``-``, is none of the subcommand's options and parses as an expression.
    """
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    if "--" in argv or not any(a.dest == "expression" for a in sub._actions):
        return argv
    options = set(sub._option_string_actions)
    for i, arg in enumerate(argv[1:], 1):
        if not arg.startswith("-") or arg.startswith("--") or arg.split("=", 1)[0] in options:
            continue
        if argv[i - 1] in options and sub._option_string_actions[argv[i - 1]].nargs != 0:
            continue  # the value of an option, e.g. --fields -x
        from alpha_env.grammar.parser import parse

        try:
            parse(arg)
        except Exception:  # noqa: BLE001 - not an expression: leave it to argparse
            continue
        return [*argv[:i], *argv[i + 1 :], "--", arg]
    return argv


def _quiet_broken_pipe() -> int:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again; return 141."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (e.g. captured in tests)
        pass
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 failed check, 2 user error, 141 closed pipe)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = args_list[0] if args_list and args_list[0] in _COMMAND_MODULES else None
    parser = build_parser(() if command is None else (command,))
    if command is not None:
        args_list = _expression_first(parser, command, args_list)
    args = parser.parse_args(args_list)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return code
    except AlphaEnvError as exc:
        print(f"alpha-env {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
