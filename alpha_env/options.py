"""Settings dataclasses → command-line options: every setting is declared once, as a dataclass field.

The CLI (``alpha-env simulate``) and the experiment scripts (``experiments/*.py``) build their options
from the library's settings dataclasses with this module, so a setting's name, default, type, choices and
help text live in one place: the field of its dataclass.

* A field ``cost_bps: float = 0.0`` becomes the option ``--cost-bps`` (default 0.0, type float).
* ``bool`` fields become ``--flag / --no-flag``; ``X | None`` fields accept ``none``; ``list[X]`` takes
  several values; ``field(metadata={"choices": (...)})`` limits the values.
* A field whose type is itself a dataclass (``backtest: BacktestSettings``) is *nested*: its fields are
  offered as options of their own (flat names; ``field(metadata={"prefix": "pool_"})`` prefixes them,
  ``--pool-capacity``), and the nested dataclass is built from them,
  so its validation runs once, when it is built. The nested field's default instance gives the defaults
  (``fine_tune: FineTuneSettings = field(default_factory=lambda: FineTuneSettings(n_steps=64))`` makes
  ``--n-steps`` default to 64).
* Help texts come from the docstring written under each field (CleanRL style) or from an ``Attributes:``
  / ``Args:`` section of the class docstring (Google style).

Example::

    @dataclass
    class Args:
        seed: int = 0
        \"\"\"seed of everything\"\"\"
        simulation: SimulationSettings = field(default_factory=SimulationSettings)

    args = parse_args(Args, ["--seed", "3", "--delay", "0"])
    args.simulation.delay  # 0
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import textwrap
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

__all__ = ["field_docs", "option_fields", "option_names", "add_options", "build_from_namespace",
           "build_parser", "parse_args"]


# --------------------------------------------------------------------------- field descriptions
def field_docs(cls: type) -> dict[str, str]:
    """Help text of each field of the dataclass ``cls``, by field name (inherited fields included).

    Read from the docstring written under each field (CleanRL / tyro style) and from an ``Attributes:``
    or ``Args:`` section of the class docstring (``name: text`` items, Google style); the former wins.
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        docs.update(_docstring_section(klass.__doc__ or ""))
        docs.update(_docstrings_under_fields(klass))
    return docs


def _docstrings_under_fields(cls: type) -> dict[str, str]:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


_SECTION = re.compile(r"^(\s*)(Attributes|Args|Arguments):\s*$")
_ITEM = re.compile(r"^(\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


def _docstring_section(doc: str) -> dict[str, str]:
    """``name: text`` items of the ``Attributes:``/``Args:`` sections of a Google-style docstring."""
    lines = textwrap.dedent(doc).splitlines() if doc else []
    # the first line of a docstring is not indented: dedent the rest on its own
    if lines:
        lines = [lines[0], *textwrap.dedent("\n".join(lines[1:])).splitlines()]
    docs: dict[str, str] = {}
    i = 0
    while i < len(lines):
        m = _SECTION.match(lines[i])
        i += 1
        if not m:
            continue
        base = len(m.group(1))
        current: str | None = None
        item_indent = None
        while i < len(lines):
            line = lines[i]
            if line.strip() == "":
                i += 1
                if i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) <= base:
                    break
                continue
            indent = len(line) - len(line.lstrip())
            if indent <= base:
                break
            if item_indent is None:
                item_indent = indent
            item = _ITEM.match(line.strip()) if indent == item_indent else None
            if item:
                current = item.group(1)
                docs[current] = item.group(2).strip()
            elif current is not None:
                docs[current] = f"{docs[current]} {line.strip()}"
            i += 1
    return docs


# --------------------------------------------------------------------------- fields to options
@dataclasses.dataclass(frozen=True)
class _Option:
    """One leaf field offered as an option: where it lives and how to read it."""

    path: tuple[str, ...]  # field names from the top dataclass to the leaf
    name: str  # the option's name: the leaf's, after the prefixes of the nested fields above it
    field: dataclasses.Field
    kind: type
    optional: bool
    default: Any
    help: str


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """``(type, optional)`` of a field annotation such as ``int`` or ``str | None``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def _defaults_of(cls: type) -> Any:
    """A default instance of ``cls`` (its defaults may live in a hand-written ``__init__``), or ``None``
    when it has required fields."""
    try:
        return cls()
    except TypeError:
        return None


def _walk(cls: type, defaults: Any, path: tuple[str, ...], prefix: str = "") -> Iterator[_Option]:
    defaults = _defaults_of(cls) if defaults is None else defaults
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if not f.init and f.name not in hints:
            continue
        kind, optional = _base_type(hints[f.name])
        default = getattr(defaults, f.name) if defaults is not None else _default_of(f)
        if dataclasses.is_dataclass(kind) and isinstance(kind, type):
            if default is dataclasses.MISSING or default is None:
                default = kind()
            yield from _walk(kind, default, (*path, f.name), prefix + f.metadata.get("prefix", ""))
            continue
        help_text = f.metadata.get("help", docs.get(f.name, ""))
        yield _Option((*path, f.name), prefix + f.name, f, kind, optional, default, help_text)


def option_fields(cls: type) -> list[_Option]:
    """The leaf fields of the dataclass ``cls`` (nested dataclasses flattened), in declaration order.

    Raises:
        TypeError: two leaves share a name (a programming error: options must be unambiguous).
    """
    options = list(_walk(cls, None, ()))
    seen: dict[str, tuple[str, ...]] = {}
    for opt in options:
        name = opt.name
        if name in seen:
            raise TypeError(f"{cls.__name__}: option --{name.replace('_', '-')} is declared twice "
                            f"({'.'.join(seen[name])} and {'.'.join(opt.path)})")
        seen[name] = opt.path
    return options


def _optional(kind: type) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        return None if text.lower() in ("none", "null", "") else kind(text)

    convert.__name__ = kind.__name__
    return convert


def add_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type,
                *, exclude: Sequence[str] = ()) -> None:
    """Add one ``--kebab-case`` option per leaf field of the dataclass ``cls`` to ``parser``.

    ``exclude`` names leaf fields that are not offered (their default is used when building).
    The destination of each option is the leaf field's name.
    """
    for opt in option_fields(cls):
        name = opt.name
        if name in exclude:
            continue
        flag = "--" + name.replace("_", "-")
        default = opt.default
        help_text = _plain(opt.help) + " (default: %(default)s)"
        if opt.kind is bool:
            parser.add_argument(flag, dest=name, default=default, action=argparse.BooleanOptionalAction,
                                help=_plain(opt.help))
            continue
        kwargs: dict[str, Any] = {"default": default, "help": help_text, "dest": name}
        if typing.get_origin(opt.kind) in (list, tuple):
            kwargs.update(nargs="+", type=typing.get_args(opt.kind)[0])
            parser.add_argument(flag, **kwargs)
            continue
        if "choices" in opt.field.metadata:
            kwargs["choices"] = tuple(opt.field.metadata["choices"])
        kwargs["type"] = _optional(opt.kind) if opt.optional else opt.kind
        parser.add_argument(flag, **kwargs)


def _plain(text: str) -> str:
    """Help text without reST markup (``:data:`X``` → ``X``, double backquotes dropped), ``%`` escaped."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text).replace("``", "")
    return text.replace("%", "%%")


def build_from_namespace(cls: type, values: argparse.Namespace | Mapping[str, Any],
                         defaults: Any = None) -> Any:
    """An instance of the dataclass ``cls`` from option values (nested dataclasses built first).

    ``values`` are keyed by option name (``cost_bps``, ``pool_capacity``); a nested field may also be
    given whole by its field name (``pool=PoolSettings(...)``). Fields missing from ``values`` keep the
    value of ``defaults`` (an instance of ``cls``; the class defaults when ``None``). Each (nested)
    dataclass validates its own values when it is built (e.g. :class:`~alpha_env.errors.SettingsError`).
    """
    data = vars(values) if isinstance(values, argparse.Namespace) else dict(values)
    return _build(cls, data, defaults, "")


def option_names(cls: type) -> set[str]:
    """Every name :func:`build_from_namespace` accepts for ``cls``: the option names and the names of
    nested fields given whole."""
    names = {opt.name for opt in option_fields(cls)}
    for opt in option_fields(cls):
        prefix = ""
        node: Any = cls
        for part in opt.path[:-1]:
            f = {g.name: g for g in dataclasses.fields(node)}[part]
            names.add(prefix + part)
            prefix += f.metadata.get("prefix", "")
            node = typing.get_type_hints(node)[part]
            node, _ = _base_type(node)
    return names


def _build(cls: type, data: Mapping[str, Any], defaults: Any, prefix: str) -> Any:
    defaults = _defaults_of(cls) if defaults is None else defaults
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        kind, _ = _base_type(hints[f.name])
        default = getattr(defaults, f.name) if defaults is not None else _default_of(f)
        if dataclasses.is_dataclass(kind) and isinstance(kind, type):
            sub_default = kind() if default is dataclasses.MISSING or default is None else default
            whole = data.get(prefix + f.name)
            if isinstance(whole, kind):
                sub_default = whole
            kwargs[f.name] = _build(kind, data, sub_default, prefix + f.metadata.get("prefix", ""))
        elif prefix + f.name in data:
            kwargs[f.name] = data[prefix + f.name]
        elif default is not dataclasses.MISSING:
            kwargs[f.name] = default
    return cls(**kwargs)


def build_parser(cls: type, description: str | None = None) -> argparse.ArgumentParser:
    """An argparse parser with one ``--kebab-case`` option per leaf field of the dataclass ``cls``."""
    parser = argparse.ArgumentParser(description=description or (cls.__doc__ or "").strip().splitlines()[0])
    add_options(parser, cls)
    return parser


def parse_args(cls: type, argv: Sequence[str] | None = None, description: str | None = None) -> Any:
    """Parse the command line into an instance of the dataclass ``cls`` (nested settings built and
    validated once). ``description`` heads ``--help`` (default: the first line of the docstring)."""
    namespace = build_parser(cls, description).parse_args(argv)
    return build_from_namespace(cls, namespace)
