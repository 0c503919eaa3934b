"""Codebook: the ordered, versioned list of tokens an agent writes, and the id of each.

Id layout of :meth:`Codebook.default` (ids are stable: extensions append at the end)::

    0 <pad>   1 <bos>   2 <end>
    fields     open high low close volume vwap returns cap adv{d} (a fixed list + every adv{d} of the corpus)
    groups     market sector industry subindustry
    constants  COMMON_CONSTANTS + every constant of the 101-alpha corpus, by value
    windows    COMMON_WINDOWS + every window of the corpus, by days (token text ``5d``)
    operators  every operator of OPERATORS, in table order

The default token list is frozen data, ``data/vocabulary_v1.txt`` (one token text per line, in id order,
with its version in a header line), built once from the lists above when it was written. The codebook is
read from that file, never rebuilt from the corpus or the operator table, so editing the 101-alpha file
or adding an operator cannot change an id; a new default vocabulary is a new file ``vocabulary_v2.txt``.

``version`` is a hash of the token texts, so any change of the list (an extension with a dataset's
custom fields) gives a new version; checkpoints store it and refuse another codebook.

``agent_vocabulary`` marks the ids an agent may write by default: the end token, fields, groups,
operators and the *common* constants and windows (not every odd literal of the corpus, e.g. 0.728317,
which the corpus needs to encode exactly). Environments AND it with the grammar mask.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from importlib import resources
from typing import Any, TypeAlias

import numpy as np

from alpha_env.errors import ExpressionError
from alpha_env.grammar.ast import NAME_PATTERN, Const, Expr, Field, Group, OpToken, Token, Window, token_text
from alpha_env.grammar.checker import GROUPS
from alpha_env.grammar.forms import from_stack, to_stack
from alpha_env.grammar.operators import OPERATORS

_token_error = partial(ExpressionError, unit="token")

__all__ = [
    "Special",
    "PAD_TOKEN",
    "BOS_TOKEN",
    "END_TOKEN",
    "CodebookToken",
    "Codebook",
    "COMMON_CONSTANTS",
    "COMMON_WINDOWS",
    "DEFAULT_VOCABULARY",
    "VOCABULARIES",
    "read_vocabulary",
    "parse_token",
]


@dataclass(frozen=True, slots=True)
class Special:
    """A special token: ``pad``, ``bos`` or ``end``."""

    name: str


PAD_TOKEN, BOS_TOKEN, END_TOKEN = Special("pad"), Special("bos"), Special("end")
CodebookToken: TypeAlias = Token | Special

#: Constants an agent may write by default.
COMMON_CONSTANTS: tuple[float, ...] = (-1.0, -0.5, 0.0, 0.01, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
#: Windows (days) an agent may write by default.
COMMON_WINDOWS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 30, 40, 60, 120, 250)
#: Packaged file of the default codebook's tokens (in ``alpha_env/grammar/data``).
DEFAULT_VOCABULARY = "vocabulary_v1.txt"
#: Packaged vocabularies by version. v1 is the default; v2 is v1 with the dialects' operators appended
#: (``ts_quantile ts_mad ts_slope ts_rsquare ts_resi ts_count_nans ts_backfill ts_ema trade_when bucket
#: rank01 group_rank01``), so every v1 id keeps its meaning. Opt in with ``Codebook.versioned(2)``.
VOCABULARIES: dict[int, str] = {1: DEFAULT_VOCABULARY, 2: "vocabulary_v2.txt"}


def _text(token: CodebookToken) -> str:
    return f"<{token.name}>" if isinstance(token, Special) else token_text(token)


def parse_token(text: str) -> CodebookToken:
    """Inverse of the token text: ``<end>``, ``close``, ``sector``, ``-1``, ``5d``, ``ts_rank``."""
    if text in ("<pad>", "<bos>", "<end>"):
        return Special(text[1:-1])
    if text.endswith("d") and text[:-1].isdigit():
        return Window(int(text[:-1]))
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(value):
            return Const(value)
        raise _token_error(f"token {text!r}: constants must be finite")
    spec = OPERATORS.get(text)
    if spec is not None and spec.name == text:
        return OpToken(text)
    if text in GROUPS:
        return Group(text)
    if NAME_PATTERN.match(text) and spec is None:
        return Field(text)
    raise _token_error(f"not a token text: {text!r}")


class Codebook:
    """Ordered token list with stable ids (``PAD = 0``, ``BOS = 1``, ``END = 2``).

    Args:
        tokens: every token in id order; must start with ``<pad> <bos> <end>`` and hold no duplicate.
        agent_tokens: tokens of the default agent vocabulary (``None``: every token but PAD and BOS).
    """

    PAD = 0
    BOS = 1
    END = 2

    def __init__(self, tokens: Sequence[CodebookToken], *,
                 agent_tokens: Iterable[CodebookToken] | None = None):
        tokens = tuple(tokens)
        if tokens[:3] != (PAD_TOKEN, BOS_TOKEN, END_TOKEN):
            raise ValueError("a codebook starts with <pad> <bos> <end>")
        self._tokens = tokens
        self._ids: dict[Any, int] = {}
        self._texts = tuple(_text(t) for t in tokens)
        for i, (token, text) in enumerate(zip(tokens, self._texts)):
            if isinstance(token, Special) and i >= 3:
                raise ValueError(f"special token {text} at id {i}")
            if text in self._ids:
                raise ValueError(f"duplicate token {text!r} in codebook")
            if isinstance(token, Field) and (token.name in GROUPS or OPERATORS.get(token.name) is not None):
                raise ValueError(f"field name {token.name!r} clashes with a group or operator")
            self._ids[text] = i
        digest = hashlib.sha256("\n".join(self._texts).encode()).hexdigest()[:16]
        self._version = f"cb{len(tokens)}-{digest}"
        agent = np.zeros(len(tokens), dtype=bool)
        if agent_tokens is None:
            agent[3:] = True
            agent[self.END] = True
        else:
            for token in agent_tokens:
                agent[self.id(token)] = True
            agent[[self.PAD, self.BOS]] = False
        agent.setflags(write=False)
        self._agent = agent
        self._cache: dict[Any, Any] = {}  # derived tables (grammar masks), keyed by options

    # ------------------------------------------------------------------ basics
    @property
    def tokens(self) -> tuple[CodebookToken, ...]:
        """Every token in id order."""
        return self._tokens

    @property
    def texts(self) -> tuple[str, ...]:
        """Text of every token in id order (``to_texts``/``from_texts`` store a codebook)."""
        return self._texts

    @property
    def version(self) -> str:
        """``cb{size}-{hash of the token texts}``."""
        return self._version

    @property
    def agent_vocabulary(self) -> np.ndarray:
        """Read-only ``(len,)`` bool array of the ids an agent may write by default."""
        return self._agent

    def __len__(self) -> int:
        return len(self._tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Codebook) and other._texts == self._texts

    def __hash__(self) -> int:
        return hash(self._version)

    def __repr__(self) -> str:
        return f"Codebook(version={self._version!r}, size={len(self)})"

    def id(self, token: CodebookToken | str) -> int:
        """Id of a token object or of its text (``"close"``, ``"5d"``, ``"-1"``, ``"<end>"``)."""
        text = token if isinstance(token, str) else _text(token)
        try:
            return self._ids[text]
        except KeyError:
            raise _token_error(f"token {text!r} is not in codebook {self._version}") from None

    def __contains__(self, token: object) -> bool:
        try:
            text = token if isinstance(token, str) else _text(token)  # type: ignore[arg-type]
        except TypeError:
            return False
        return text in self._ids

    def token(self, id: int) -> CodebookToken:
        """Token of an id."""
        if not 0 <= int(id) < len(self._tokens):
            raise _token_error(f"id {id} is outside codebook {self._version} (size {len(self)})")
        return self._tokens[int(id)]

    # ------------------------------------------------------------------ expressions
    def encode(self, expr: Expr, *, specials: bool = False) -> list[int]:
        """AlphaStack ids of ``expr`` (``specials``: wrap in BOS ... END).

        Raises:
            ExpressionError: a token of the expression is not in the codebook (``position``: its index).
        """
        ids = [self.BOS] if specials else []
        for i, token in enumerate(to_stack(expr)):
            text = _text(token)
            if text not in self._ids:
                raise _token_error(f"token {text!r} is not in codebook {self._version}", i)
            ids.append(self._ids[text])
        if specials:
            ids.append(self.END)
        return ids

    def decode(self, ids: Iterable[int]) -> Expr:
        """Expression of AlphaStack ids; a leading BOS, an END and trailing PADs are accepted.

        Raises:
            ExpressionError: unknown id, a special token inside the expression, or ids that do not form
                one well-typed series (``position``: index in ``ids``).
        """
        ids = [int(i) for i in ids]
        start = 1 if ids and ids[0] == self.BOS else 0
        end = len(ids)
        if self.END in ids[start:]:
            end = ids.index(self.END, start)
            if any(i != self.PAD for i in ids[end + 1:]):
                raise _token_error("only padding may follow <end>", end + 1)
        else:
            while end > start and ids[end - 1] == self.PAD:
                end -= 1
        tokens: list[Token] = []
        for pos in range(start, end):
            if not 0 <= ids[pos] < len(self._tokens):
                raise _token_error(f"id {ids[pos]} is outside codebook {self._version}", pos)
            token = self._tokens[ids[pos]]
            if isinstance(token, Special):
                raise _token_error(f"special token <{token.name}> inside the expression", pos)
            tokens.append(token)
        try:
            return from_stack(tokens)
        except ExpressionError as exc:
            pos = None if exc.position is None else exc.position + start
            raise _token_error(exc.message, pos) from None

    # ------------------------------------------------------------------ derived codebooks
    def extend(self, *, fields: Iterable[str] = (), constants: Iterable[float] = (),
               windows: Iterable[int] = (), agent: bool = True) -> Codebook:
        """A new codebook with extra tokens appended (existing ids keep their meaning).

        Args:
            fields: custom field names (lower-cased; e.g. a dataset's ``news_sentiment``).
            constants: extra constant values; windows: extra window lengths in days.
            agent: whether the new tokens join the agent vocabulary.
        """
        new: list[CodebookToken] = []
        for name in fields:
            name = str(name).lower()
            if not NAME_PATTERN.match(name) or name in GROUPS or OPERATORS.get(name) is not None \
                    or name in ("adv", "indclass"):
                raise _token_error(f"invalid custom field name {name!r}")
            new.append(Field(name))
        new.extend(Const(float(v)) for v in constants)
        for d in windows:
            if isinstance(d, bool) or int(d) != d or d < 1:
                raise _token_error(f"invalid window {d!r}: a positive integer number of days is required")
            new.append(Window(int(d)))
        added = []
        seen = set(self._texts)
        for token in new:
            text = _text(token)
            if text not in seen:
                seen.add(text)
                added.append(token)
        agent_tokens = [t for t, a in zip(self._tokens, self._agent) if a]
        if agent:
            agent_tokens += added
        return Codebook((*self._tokens, *added), agent_tokens=agent_tokens)

    def to_texts(self) -> dict[str, Any]:
        """Plain-data form (for checkpoints): token texts, agent flags and version."""
        return {"version": self._version, "tokens": list(self._texts),
                "agent": [bool(a) for a in self._agent]}

    @classmethod
    def from_texts(cls, data: dict[str, Any]) -> Codebook:
        """Inverse of :meth:`to_texts`; checks the stored version."""
        tokens = [parse_token(t) for t in data["tokens"]]
        agent = [t for t, a in zip(tokens, data.get("agent", [True] * len(tokens))) if a]
        book = cls(tokens, agent_tokens=agent)
        if "version" in data and data["version"] != book.version:
            raise _token_error(f"codebook version mismatch: stored {data['version']}, "
                                  f"rebuilt {book.version}")
        return book

    @classmethod
    def default(cls) -> Codebook:
        """The standard codebook (see the module doc); the same object on every call."""
        return _default_codebook()

    @classmethod
    def versioned(cls, version: int) -> Codebook:
        """The packaged vocabulary ``version`` (see :data:`VOCABULARIES`; 1 is :meth:`default`).

        Raises:
            ExpressionError: no such version.
        """
        if version not in VOCABULARIES:
            raise _token_error(f"no packaged vocabulary version {version!r}; known: "
                               f"{', '.join(map(str, VOCABULARIES))}")
        return _packaged_codebook(VOCABULARIES[version])

    # ------------------------------------------------------------------ groups of ids
    def ids_of(self, kind: type) -> np.ndarray:
        """Ids of every token of a class (``Field``, ``Const``, ``Window``, ``Group``, ``OpToken``)."""
        return np.array([i for i, t in enumerate(self._tokens) if isinstance(t, kind)], dtype=np.int64)


def read_vocabulary(name: str = DEFAULT_VOCABULARY) -> tuple[tuple[str, ...], str]:
    """Token texts (in id order) and recorded codebook version of a packaged vocabulary file.

    The file holds one token text per line; ``#`` lines are comments, one of them ``# version: cb...``.
    """
    text = resources.files("alpha_env.grammar").joinpath(f"data/{name}").read_text(encoding="utf-8")
    texts: list[str] = []
    version = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            if key.strip() == "version":
                version = value.strip()
        elif line:
            texts.append(line)
    return tuple(texts), version


@functools.lru_cache(maxsize=1)
def _default_codebook() -> Codebook:
    return _build_packaged(DEFAULT_VOCABULARY)


@functools.cache
def _packaged_codebook(name: str) -> Codebook:
    return _default_codebook() if name == DEFAULT_VOCABULARY else _build_packaged(name)


def _build_packaged(name: str) -> Codebook:
    texts, version = read_vocabulary(name)
    tokens = [parse_token(t) for t in texts]
    common_c = {float(v) for v in COMMON_CONSTANTS}
    agent = [t for t in tokens
             if t == END_TOKEN or isinstance(t, Field | Group | OpToken)
             or (isinstance(t, Const) and t.value in common_c)
             or (isinstance(t, Window) and t.days in COMMON_WINDOWS)]
    book = Codebook(tokens, agent_tokens=agent)
    if book.version != version:
        raise _token_error(f"vocabulary file {name} records version {version!r} but its "
                           f"tokens hash to {book.version!r}: the frozen file was edited")
    return book
