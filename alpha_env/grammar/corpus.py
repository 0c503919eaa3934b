"""The 101 Formulaic Alphas corpus, and a seeded builder of grammar-valid expression corpora.

``alpha101()`` reads ``data/alpha101.txt`` (one ``Alpha#N: formula`` per line, the paper's notation).
``build_corpus`` makes a pretraining corpus: the 101 alphas, random masked rollouts, and mutations and
recombinations of corpus alphas; every expression is well typed, encodable with the codebook and at most
``max_len`` tokens long.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np

from alpha_env.errors import ExpressionError
from alpha_env.grammar.ast import Call, Const, Expr, Field, OpToken, Window
from alpha_env.grammar.checker import check
from alpha_env.grammar.codebook import Codebook
from alpha_env.grammar.forms import length
from alpha_env.grammar.operators import OPERATORS
from alpha_env.grammar.parser import parse
from alpha_env.grammar.printer import canonical
from alpha_env.grammar.state import GrammarState

__all__ = ["CorpusAlpha", "alpha101", "alpha101_text", "random_expression", "mutate", "crossover",
           "build_corpus"]


@dataclass(frozen=True, slots=True)
class CorpusAlpha:
    """One alpha of the corpus: its number, its text as written in the paper, and its tree."""

    number: int
    text: str
    expr: Expr


def alpha101_text() -> str:
    """Raw text of the packaged corpus file."""
    return resources.files("alpha_env.grammar").joinpath("data/alpha101.txt").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def alpha101() -> tuple[CorpusAlpha, ...]:
    """The 101 alphas of Kakushadze (2015), parsed, in order."""
    out = []
    for lineno, line in enumerate(alpha101_text().splitlines(), start=1):
        if not line.strip():
            continue
        label, sep, text = line.partition(":")
        if not sep or not label.startswith("Alpha#"):
            raise ExpressionError(f"alpha101.txt line {lineno}: expected 'Alpha#N: formula'")
        text = text.strip()
        out.append(CorpusAlpha(int(label[len("Alpha#"):]), text, parse(text)))
    return tuple(out)


def random_expression(codebook: Codebook, max_len: int, rng: np.random.Generator, *, p_end: float = 0.35,
                      agent_only: bool = True) -> Expr:
    """A random well-typed expression of at most ``max_len`` tokens, drawn with the grammar masks.

    Each step picks uniformly among the allowed ids (AND the agent vocabulary when ``agent_only``),
    except that once the stack holds one series the expression ends with probability ``p_end``.
    """
    state = GrammarState(codebook, max_len)
    allowed_vocab = codebook.agent_vocabulary if agent_only else None
    while True:
        mask = state.mask()
        if state.complete and (rng.random() < p_end or not mask[codebook.END + 1:].any()):
            return state.expression()
        if allowed_vocab is not None:
            mask = mask & allowed_vocab
        choices = np.flatnonzero(mask)
        choices = choices[choices != codebook.END]
        if choices.size == 0:  # only END remains
            return state.expression()
        state.push(int(rng.choice(choices)))


def _nodes(expr: Expr, path: tuple[int, ...] = ()) -> list[tuple[tuple[int, ...], Expr]]:
    out = [(path, expr)]
    if isinstance(expr, Call):
        for i, arg in enumerate(expr.args):
            out.extend(_nodes(arg, (*path, i)))
    return out


def _replace(expr: Expr, path: tuple[int, ...], new: Expr) -> Expr:
    if not path:
        return new
    assert isinstance(expr, Call)
    args = list(expr.args)
    args[path[0]] = _replace(args[path[0]], path[1:], new)
    return Call(expr.op, tuple(args))


def _pick(rng: np.random.Generator, items: list):
    return items[int(rng.integers(len(items)))]


def mutate(expr: Expr, codebook: Codebook, rng: np.random.Generator, *, max_len: int = 30) -> Expr:
    """One random point mutation of ``expr``: another window, constant or field of the agent vocabulary,
    another operator of the same signature, or a random sub-expression in place of a series sub-tree.
    The result may be ill-typed or too long; :func:`build_corpus` filters."""
    agent = [t for t, a in zip(codebook.tokens, codebook.agent_vocabulary) if a]
    path, node = _pick(rng, _nodes(expr))
    if isinstance(node, Window):
        new: Expr = _pick(rng, [t for t in agent if isinstance(t, Window)])
    elif isinstance(node, Const):
        new = _pick(rng, [t for t in agent if isinstance(t, Const)])
    elif isinstance(node, Field) and rng.random() < 0.5:
        new = _pick(rng, [t for t in agent if isinstance(t, Field)])
    elif isinstance(node, Call) and rng.random() < 0.5:
        spec = OPERATORS[node.op]
        agent_ops = {t.name for t in agent if isinstance(t, OpToken)}  # newer operators are parse-only
        same = [s.name for s in OPERATORS.values()
                if s.arg_kinds == spec.arg_kinds and s.result_kind == spec.result_kind
                and s.name in agent_ops] or [node.op]
        new = Call(_pick(rng, same), node.args)
    else:
        budget = max(1, max_len - length(expr) + length(node))
        new = random_expression(codebook, min(budget, 8), rng)
    return _replace(expr, path, new)


def crossover(a: Expr, b: Expr, rng: np.random.Generator) -> Expr:
    """``a`` with one of its operator sub-trees replaced by an operator sub-tree of ``b``."""
    targets = [p for p, n in _nodes(a) if isinstance(n, Call)]
    donors = [n for _, n in _nodes(b) if isinstance(n, Call)]
    if not targets or not donors:
        return a
    return _replace(a, _pick(rng, targets), _pick(rng, donors))


def build_corpus(codebook: Codebook | None = None, *, size: int = 10_000, max_len: int = 30, seed: int = 0,
                 fractions: tuple[float, float, float] = (0.4, 0.4, 0.2), include_alpha101: bool = True
                 ) -> list[Expr]:
    """A seeded pretraining corpus of distinct (by canonical text) well-typed expressions.

    Args:
        codebook: ids the expressions must encode with (default: ``Codebook.default()``).
        size: number of expressions wanted (fewer only if attempts run out).
        max_len: most AlphaStack tokens per expression.
        seed: seed of the ``np.random.Generator`` (same seed, same corpus).
        fractions: shares of random rollouts, mutations and crossovers of the generated part.
        include_alpha101: start with the corpus alphas that fit ``max_len``.

    Returns:
        Expressions in generation order (the 101 alphas first).
    """
    book = codebook if codebook is not None else Codebook.default()
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    out: list[Expr] = []

    def offer(e: Expr) -> None:
        if len(out) >= size or length(e) > max_len:
            return
        try:
            check(e)
            book.encode(e)
        except ExpressionError:
            return
        key = canonical(e)
        if key not in seen:
            seen.add(key)
            out.append(e)

    if include_alpha101:
        for entry in alpha101():
            offer(entry.expr)
    parents = [e.expr for e in alpha101() if length(e.expr) <= max_len]
    parents = parents or [random_expression(book, max_len, rng)]
    cum = np.cumsum(fractions) / np.sum(fractions)
    attempts = 0
    while len(out) < size and attempts < 20 * size:
        attempts += 1
        u = rng.random()
        if u < cum[0]:
            offer(random_expression(book, int(rng.integers(3, max_len + 1)), rng))
        elif u < cum[1]:
            base = _pick(rng, out) if out and rng.random() < 0.5 else _pick(rng, parents)
            offer(mutate(base, book, rng, max_len=max_len))
        else:
            offer(crossover(_pick(rng, parents), _pick(rng, out or parents), rng))
    return out
