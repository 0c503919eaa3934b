"""Tokenizer of the infix language: text -> list of :class:`Lexeme` with 0-based columns."""

from __future__ import annotations

import re
from dataclasses import dataclass

from alpha_env.errors import ExpressionError

__all__ = ["Lexeme", "tokenize", "SYMBOLS", "MAX_CHARS"]

#: Punctuation and operator symbols, longest first so that ``<=`` wins over ``<``.
SYMBOLS: tuple[str, ...] = ("<=", ">=", "==", "!=", "||", "&&", "+", "-", "*", "/", "^", "<", ">", "!",
                            "?", ":", "(", ")", ",")

#: Longest accepted expression text, in characters; longer input is rejected before it is scanned (a tree
#: within the parser's node limit prints in far fewer characters, so nothing parseable is refused).
MAX_CHARS = 32_000

_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DIGITS = frozenset("0123456789")
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True, slots=True)
class Lexeme:
    """One token of the text: ``kind`` is ``number``, ``name``, ``symbol`` or ``eof``."""

    kind: str
    text: str
    pos: int
    number: float | None = None


def tokenize(text: str) -> list[Lexeme]:
    """Split ``text`` into lexemes (whitespace separates, nothing else is skipped).

    Raises:
        ExpressionError: on a character that starts no token, a malformed or out-of-range number, or a
            text longer than :data:`MAX_CHARS` characters (checked before scanning).
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expression must be a string, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise ExpressionError(f"expression is {len(text):,} characters long; the limit is {MAX_CHARS:,}",
                              MAX_CHARS, text[:80] + "...")
    out: list[Lexeme] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in _DIGITS or (ch == "." and i + 1 < n and text[i + 1] in _DIGITS):
            m = _NUMBER.match(text, i)
            assert m is not None
            end = m.end()
            if end < n and (text[end] in _NAME_START or text[end] in _DIGITS or text[end] == "."):
                raise ExpressionError(f"malformed number {text[i:end + 1]!r}", i, text)
            value = float(m.group())
            if value == float("inf"):
                raise ExpressionError(f"number {m.group()!r} is out of range", i, text)
            out.append(Lexeme("number", m.group(), i, value))
            i = end
            continue
        if ch in _NAME_START:
            m = _NAME.match(text, i)
            assert m is not None
            if m.end() < n and text[m.end()] == ".":
                raise ExpressionError(f"malformed name {text[i:m.end() + 1]!r}", i, text)
            out.append(Lexeme("name", m.group(), i))
            i = m.end()
            continue
        for sym in SYMBOLS:
            if text.startswith(sym, i):
                out.append(Lexeme("symbol", sym, i))
                i += len(sym)
                break
        else:
            hint = ""
            if ch in "=|&":
                hint = f" (did you mean {ch * 2!r}?)"
            raise ExpressionError(f"unexpected character {ch!r}{hint}", i, text)
    out.append(Lexeme("eof", "", n))
    return out
