"""The expression language of formulaic alphas ("101 Formulaic Alphas", Kakushadze 2015).

* :data:`OPERATORS` — the one operator table (:class:`OperatorSpec`: signature, syntax, look-back, doc);
* :func:`parse` / :func:`canonical` — text to tree and back (one canonical text per expression);
* :func:`to_stack` / :func:`from_stack` (AlphaStack, postfix) and :func:`to_tree` / :func:`from_tree`
  (AlphaTree, level order);
* :class:`Codebook` — versioned token ids; :class:`GrammarState` — exact action masks;
* :func:`alpha101` / :func:`build_corpus` — the 101-alpha corpus and a seeded pretraining corpus.

Example::

    >>> from alpha_env.grammar import parse, canonical, to_stack, Codebook, GrammarState
    >>> e = parse("(-1 * Ts_Rank(rank(low), 9))")
    >>> canonical(e)
    '-1 * ts_rank(rank(low), 9)'
"""

from alpha_env.grammar.ast import Call, Const, Expr, Field, Group, Leaf, OpToken, Token, Window, token_text
from alpha_env.grammar.checker import BASE_FIELDS, GROUPS, check, checked_canonical
from alpha_env.grammar.codebook import BOS_TOKEN, END_TOKEN, PAD_TOKEN, Codebook, Special, parse_token
from alpha_env.grammar.corpus import CorpusAlpha, alpha101, build_corpus
from alpha_env.grammar.forms import (
    depth,
    from_stack,
    from_tree,
    length,
    lookback,
    stack_text,
    to_stack,
    to_tree,
)
from alpha_env.grammar.kinds import Kind, Unit, Value
from alpha_env.grammar.operators import OPERATORS, OperatorSpec
from alpha_env.grammar.parser import parse, parse_with_value
from alpha_env.grammar.printer import canonical, compose
from alpha_env.grammar.state import GrammarState

__all__ = [
    "Kind", "Unit", "Value",
    "OperatorSpec", "OPERATORS",
    "Field", "Const", "Window", "Group", "Call", "OpToken", "Expr", "Leaf", "Token", "token_text",
    "BASE_FIELDS", "GROUPS", "check", "checked_canonical",
    "parse", "parse_with_value", "canonical", "compose",
    "to_stack", "from_stack", "to_tree", "from_tree", "depth", "length", "lookback", "stack_text",
    "Codebook", "Special", "PAD_TOKEN", "BOS_TOKEN", "END_TOKEN", "parse_token",
    "GrammarState",
    "CorpusAlpha", "alpha101", "build_corpus",
]
