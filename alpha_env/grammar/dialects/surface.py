"""Surface syntax shared by the dialect front ends: a configurable tokenizer and precedence parser.

A dialect (:mod:`alpha_env.grammar.dialects.qlib`, :mod:`alpha_env.grammar.dialects.brain`) describes
its notation with a :class:`Syntax` (symbols, binary precedence levels, prefix operators, field prefix,
keyword arguments, string literals, ``;`` statements) and gets a *surface tree* of :class:`SNum`,
:class:`SName`, :class:`SStr`, :class:`SCall` and :class:`SOp` nodes, each with the 0-based column of
its text. The surface tree names operators exactly as the user spelt them; the dialect's name table
turns it into the one AST (:mod:`alpha_env.grammar.ast`) through the operators of the one table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeAlias

from alpha_env.errors import ExpressionError
from alpha_env.grammar.lexer import MAX_CHARS

__all__ = ["Syntax", "SNum", "SName", "SStr", "SCall", "SOp", "SNode", "parse_surface", "MAX_NESTING"]

#: Deepest accepted nesting of parentheses, calls and operators in the surface text.
MAX_NESTING = 100

_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'")


@dataclass(frozen=True, slots=True)
class Syntax:
    """The notation of one dialect.

    Attributes:
        name: dialect name used in error messages (``qlib``, ``brain``).
        binary: infix symbol -> ``(precedence, canonical infix name)``; a higher precedence binds tighter.
        right_assoc: infix symbols that associate to the right.
        non_assoc: infix symbols that cannot be chained (``a < b < c`` is an error).
        prefix: prefix symbol -> ``(precedence, name)``; the operand is parsed at that precedence.
        ternary: whether ``c ? a : b`` is accepted (lowest precedence, right-associative).
        field_prefix: character that marks a field (``$`` in Qlib), else ``None``.
        keywords: whether calls accept ``name=value`` arguments.
        strings: whether quoted string literals are accepted (as keyword/argument values).
        statements: whether ``name = expr;`` assignments before a final expression are accepted.
    """

    name: str
    binary: dict[str, tuple[int, str]]
    right_assoc: frozenset[str] = frozenset()
    non_assoc: frozenset[str] = frozenset()
    prefix: dict[str, tuple[int, str]] = field(default_factory=dict)
    ternary: bool = False
    field_prefix: str | None = None
    keywords: bool = False
    strings: bool = False
    statements: bool = False

    def symbols(self) -> tuple[str, ...]:
        """Every punctuation symbol, longest first."""
        syms = {*self.binary, *self.prefix, "(", ")", ","}
        if self.ternary:
            syms |= {"?", ":"}
        if self.keywords or self.statements:
            syms.add("=")
        if self.statements:
            syms.add(";")
        return tuple(sorted(syms, key=len, reverse=True))


@dataclass(frozen=True, slots=True)
class SNum:
    """A numeric literal."""

    value: float
    pos: int


@dataclass(frozen=True, slots=True)
class SName:
    """A bare name (``close``, ``sector``, ``true``) or, with ``marked``, a prefixed field (``$close``)."""

    name: str
    pos: int
    marked: bool = False


@dataclass(frozen=True, slots=True)
class SStr:
    """A quoted string literal (its text without the quotes)."""

    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class SCall:
    """``name(args..., key=value...)`` as spelt; ``kwargs`` holds ``(key, value, column of key)``."""

    name: str
    pos: int
    args: tuple[SNode, ...]
    kwargs: tuple[tuple[str, SNode, int], ...] = ()


@dataclass(frozen=True, slots=True)
class SOp:
    """An infix, prefix or ternary operator; ``op`` is the canonical name (``add``, ``neg``, ``if_else``)."""

    op: str
    symbol: str
    pos: int
    args: tuple[SNode, ...]


SNode: TypeAlias = SNum | SName | SStr | SCall | SOp


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # number, name, field, string, symbol, eof
    text: str
    pos: int
    number: float = 0.0


def _tokenize(text: str, syntax: Syntax) -> list[_Tok]:
    if not isinstance(text, str):
        raise ExpressionError(f"expression must be a string, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise ExpressionError(f"expression is {len(text):,} characters long; the limit is {MAX_CHARS:,}",
                              MAX_CHARS, text[:80] + "...")
    symbols = syntax.symbols()
    out: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUMBER.match(text, i)
            assert m is not None
            end = m.end()
            if end < n and (text[end].isalnum() or text[end] in "._"):
                raise ExpressionError(f"malformed number {text[i:end + 1]!r}", i, text)
            value = float(m.group())
            if value == float("inf"):
                raise ExpressionError(f"number {m.group()!r} is out of range", i, text)
            out.append(_Tok("number", m.group(), i, value))
            i = end
            continue
        if syntax.field_prefix is not None and ch == syntax.field_prefix:
            m = _NAME.match(text, i + 1)
            if m is None:
                raise ExpressionError(f"{ch!r} must be followed by a field name ({syntax.name} dialect)",
                                      i, text)
            out.append(_Tok("field", m.group(), i))
            i = m.end()
            continue
        if ch.isalpha() or ch == "_":
            m = _NAME.match(text, i)
            assert m is not None
            out.append(_Tok("name", m.group(), i))
            i = m.end()
            continue
        if syntax.strings and ch in "\"'":
            m = _STRING.match(text, i)
            if m is None:
                raise ExpressionError("unterminated string", i, text)
            out.append(_Tok("string", m.group()[1:-1], i))
            i = m.end()
            continue
        for sym in symbols:
            if text.startswith(sym, i):
                out.append(_Tok("symbol", sym, i))
                i += len(sym)
                break
        else:
            raise ExpressionError(f"unexpected character {ch!r} ({syntax.name} dialect)", i, text)
    out.append(_Tok("eof", "", n))
    return out


class _SurfaceParser:
    def __init__(self, text: str, syntax: Syntax):
        self.text = text
        self.syntax = syntax
        self.toks = _tokenize(text, syntax)
        self.i = 0
        self.depth = 0
        self.lowest = min((p for p, _ in syntax.binary.values()), default=1)

    def error(self, message: str, pos: int) -> ExpressionError:
        return ExpressionError(message, pos, self.text)

    @property
    def cur(self) -> _Tok:
        return self.toks[self.i]

    def at(self, sym: str) -> bool:
        return self.cur.kind == "symbol" and self.cur.text == sym

    def describe(self, tok: _Tok) -> str:
        return "end of expression" if tok.kind == "eof" else repr(tok.text)

    def expect(self, sym: str, opened: int | None = None) -> None:
        if not self.at(sym):
            where = f" of the '(' at column {opened}" if opened is not None else ""
            raise self.error(f"expected {sym!r}{where}, found {self.describe(self.cur)}", self.cur.pos)
        self.i += 1

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"expression nested deeper than {MAX_NESTING} levels", pos)

    # ------------------------------------------------------------------ grammar
    def program(self) -> tuple[SNode, dict[str, SNode]]:
        env: dict[str, SNode] = {}
        if self.cur.kind == "eof":
            raise self.error("empty expression", 0)
        while self.syntax.statements and self.cur.kind == "name" and \
                self.toks[self.i + 1].kind == "symbol" and self.toks[self.i + 1].text == "=":
            name_tok = self.cur
            self.i += 2
            env[name_tok.text.lower()] = self.expr()
            self.expect(";")
            if self.cur.kind == "eof":
                raise self.error(f"the assignment to {name_tok.text!r} must be followed by a final "
                                 "expression", name_tok.pos)
        node = self.expr()
        if self.syntax.statements and self.at(";"):
            self.i += 1
        if self.cur.kind != "eof":
            if self.at(")"):
                raise self.error("unbalanced parentheses: ')' without a matching '('", self.cur.pos)
            raise self.error(f"unexpected {self.describe(self.cur)} after a complete expression",
                             self.cur.pos)
        return node, env

    def expr(self) -> SNode:
        self.enter(self.cur.pos)
        try:
            cond = self.binary(self.lowest)
            if not (self.syntax.ternary and self.at("?")):
                return cond
            qpos = self.cur.pos
            self.i += 1
            yes = self.expr()
            if not self.at(":"):
                raise self.error(f"expected ':' of the '?' at column {qpos}, found "
                                 f"{self.describe(self.cur)}", self.cur.pos)
            self.i += 1
            no = self.expr()
            return SOp("if_else", "?:", qpos, (cond, yes, no))
        finally:
            self.depth -= 1

    def binary(self, level: int) -> SNode:
        left = self.unary()
        chained: str | None = None
        while True:
            tok = self.cur
            entry = self.syntax.binary.get(tok.text) if tok.kind == "symbol" else None
            if entry is None or entry[0] < level:
                return left
            prec, name = entry
            if tok.text in self.syntax.non_assoc:
                if chained is not None:
                    raise self.error(f"chained comparison {chained!r} ... {tok.text!r}: write "
                                     "each comparison separately", tok.pos)
                chained = tok.text
            self.i += 1
            self.enter(tok.pos)
            try:
                right = self.binary(prec if tok.text in self.syntax.right_assoc else prec + 1)
            finally:
                self.depth -= 1
            left = SOp(name, tok.text, tok.pos, (left, right))

    def unary(self) -> SNode:
        tok = self.cur
        if tok.kind == "symbol" and tok.text in self.syntax.prefix:
            prec, name = self.syntax.prefix[tok.text]
            self.i += 1
            self.enter(tok.pos)
            try:
                operand = self.binary(prec)
            finally:
                self.depth -= 1
            return SOp(name, tok.text, tok.pos, (operand,))
        return self.primary()

    def primary(self) -> SNode:
        tok = self.cur
        if tok.kind == "number":
            self.i += 1
            return SNum(tok.number, tok.pos)
        if tok.kind == "string":
            self.i += 1
            return SStr(tok.text, tok.pos)
        if tok.kind == "field":
            self.i += 1
            return SName(tok.text, tok.pos, marked=True)
        if tok.kind == "name":
            self.i += 1
            if self.at("("):
                return self.call(tok)
            return SName(tok.text, tok.pos)
        if self.at("("):
            self.i += 1
            if self.at(")"):
                raise self.error("empty parentheses", self.cur.pos)
            inner = self.expr()
            if not self.at(")"):
                raise self.error(f"unbalanced parentheses: '(' at column {tok.pos} is not closed "
                                 f"(found {self.describe(self.cur)})", self.cur.pos)
            self.i += 1
            return inner
        if tok.kind == "eof":
            raise self.error("unexpected end of expression (an operand is missing)", tok.pos)
        raise self.error(f"unexpected {self.describe(tok)} (an operand is expected)", tok.pos)

    def call(self, name: _Tok) -> SCall:
        opened = self.cur.pos
        self.i += 1
        args: list[SNode] = []
        kwargs: list[tuple[str, SNode, int]] = []
        self.enter(opened)
        try:
            if self.at(")"):
                self.i += 1
                return SCall(name.text, name.pos, ())
            while True:
                tok = self.cur
                nxt = self.toks[min(self.i + 1, len(self.toks) - 1)]
                if self.syntax.keywords and tok.kind == "name" and nxt.kind == "symbol" and nxt.text == "=":
                    self.i += 2
                    if any(k == tok.text.lower() for k, _, _ in kwargs):
                        raise self.error(f"{name.text}: keyword argument {tok.text!r} given twice", tok.pos)
                    kwargs.append((tok.text.lower(), self.expr(), tok.pos))
                elif kwargs:
                    raise self.error(f"{name.text}: a positional argument follows a keyword argument",
                                     tok.pos)
                else:
                    args.append(self.expr())
                if self.at(","):
                    self.i += 1
                    continue
                if self.at(")"):
                    self.i += 1
                    return SCall(name.text, name.pos, tuple(args), tuple(kwargs))
                raise self.error(f"unbalanced parentheses: '(' at column {opened} is not closed "
                                 f"(expected ',' or ')', found {self.describe(self.cur)})", self.cur.pos)
        finally:
            self.depth -= 1


def parse_surface(text: str, syntax: Syntax) -> tuple[SNode, dict[str, SNode]]:
    """Parse ``text`` in the notation ``syntax`` into a surface tree.

    Returns:
        The final expression's surface tree and the ``name = expr;`` assignments before it (lower-case
        names; empty unless ``syntax.statements``).

    Raises:
        ExpressionError: on a character, token or structure the notation does not accept (with the
            0-based column).
    """
    return _SurfaceParser(text, syntax).program()
