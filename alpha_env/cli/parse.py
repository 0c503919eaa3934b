"""``alpha-env parse "EXPR" [--dialect D] [--json]``: canonical text, AlphaStack, AlphaTree, depth, length,
look-back."""

from __future__ import annotations

import argparse
import json
from typing import Any

from alpha_env.cli import SUMMARIES
from alpha_env.errors import ExpressionError
from alpha_env.grammar.ast import token_text
from alpha_env.grammar.codebook import Codebook
from alpha_env.grammar.forms import depth, length, lookback, to_stack, to_tree
from alpha_env.grammar.parser import DIALECT_CHOICES, parse_with_value
from alpha_env.grammar.printer import canonical

__all__ = ["register", "describe"]


def describe(text: str, *, fields: list[str] | None = None, units: bool = False,
             dialect: str = "alpha101") -> dict[str, Any]:
    """Everything ``alpha-env parse`` reports about an expression (written in ``dialect``), as plain data."""
    expr, value = parse_with_value(text, fields=fields, units=units, dialect=dialect)
    book = Codebook.default()
    if fields:
        book = book.extend(fields=fields)
    stack = to_stack(expr)
    try:
        ids: list[int] | None = book.encode(expr)
    except ExpressionError:
        ids = None
    return {
        "input": text,
        "canonical": canonical(expr),
        "kind": value.kind.value,
        "unit": value.unit.value if value.unit is not None else None,
        "stack": [token_text(t) for t in stack],
        "tree": [token_text(t) for t in to_tree(expr)],
        "depth": depth(expr),
        "length": length(expr),
        "lookback_days": lookback(expr),
        "codebook": book.version,
        "ids": ids,
    }


def _run(args: argparse.Namespace) -> int:
    fields = [f.strip() for f in args.fields.split(",") if f.strip()] if args.fields else None
    info = describe(args.expression, fields=fields, units=args.units, dialect=args.dialect)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"canonical : {info['canonical']}")
    print(f"kind      : {info['kind']}" + (f" ({info['unit']})" if info["unit"] else ""))
    print(f"stack     : {' '.join(info['stack'])}")
    print(f"tree      : {' '.join(info['tree'])}")
    print(f"depth     : {info['depth']}")
    print(f"length    : {info['length']} tokens")
    print(f"look-back : {info['lookback_days']} days")
    ids = info["ids"]
    print(f"ids       : {' '.join(map(str, ids)) if ids is not None else '(not all tokens in the codebook)'}"
          f"  [{info['codebook']}]")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``parse`` subcommand."""
    p = subparsers.add_parser(
        "parse",
        help=SUMMARIES["parse"],
        description="Parse an expression in the language of '101 Formulaic Alphas' and print its canonical "
                    "text, AlphaStack (postfix) tokens, AlphaTree (level-order) nodes, depth, length and "
                    "look-back in days.",
        epilog='An expression may start with a minus: alpha-env parse "-rank(close)".',
    )
    p.add_argument("expression", help='the expression, e.g. "rank(-delta(close, 5))"')
    p.add_argument("--fields", default=None,
                   help="comma-separated custom fields; when given, other unknown names are errors")
    p.add_argument("--units", action="store_true", help="also check units (price / volume / dimensionless)")
    p.add_argument("--dialect", choices=DIALECT_CHOICES, default="alpha101",
                   help='notation of the expression: alpha101 (default), qlib ("Mean($close, 5)"), brain '
                        '("ts_std_dev(close, 20)") or auto; see docs/grammar.md, "Dialects"')
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_run)
