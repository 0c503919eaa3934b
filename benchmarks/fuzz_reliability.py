"""Fuzz run of issue 19's "Proof": random inputs against the parser, the simulator and env, the data
loaders and the alpha store, with a count of failures by class.

A *failure* is (the project's contract, README "Reliability"):

* an exception that is not an :class:`~alpha_env.errors.AlphaEnvError` from ``parse``, ``simulate``,
  ``load_panel``/``check_dataset``, the store's reads or the CLI (whose exit code must be 0, 1 or 2 with
  no traceback on stderr);
* an ``env.step`` that raises, or a reward that is not a finite number;
* a non-degenerate result whose PnL holds a NaN/inf, or a split metric that is a number (0 included)
  where that split's PnL holds a NaN;
* a store that a failed write leaves unreadable or changed.

The generators are seeded functions of a ``numpy.random.Generator`` (one seed, one input), shared with the
bounded hypothesis suite ``tests/test_fuzz_*.py``, which loads this file by path.

Usage::

    python benchmarks/fuzz_reliability.py --quick          # smoke run, 1-2 minutes (Numba compiles first)
    python benchmarks/fuzz_reliability.py --parser 20000 --episodes 2000 --data-files 200 --stores 100

Prints the inputs tried and the failures per class (with the first example of each); exit code 1 when
any failure was found.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gzip
import io
import os
import sqlite3
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
os.environ.setdefault("MPLBACKEND", "Agg")

__all__ = [
    "Failure", "random_expression", "adversarial_panel", "simulation_probes", "write_bad_data_file",
    "build_store", "damage_store", "check_parse", "check_simulation", "check_episode", "check_data_file",
    "check_store", "check_failed_write", "run_cli", "main",
]

#: Names the parser knows (fields, groups, operators) plus near misses, for the parser generator.
_NAMES = (
    "open", "high", "low", "close", "volume", "vwap", "returns", "cap", "adv20", "adv", "market", "sector",
    "industry", "subindustry", "IndClass.sector", "delay", "delta", "sum", "product", "stddev",
    "correlation", "covariance", "ts_min", "ts_max", "ts_argmin", "ts_argmax", "ts_rank", "decay_linear",
    "ts_skewness", "ts_kurtosis", "ts_mean", "ts_zscore", "rank", "scale", "zscore", "indneutralize",
    "group_rank", "group_mean", "group_zscore", "abs", "log", "sign", "sqrt", "signedpower", "vec_avg",
    "max", "min", "pow", "ts_rnk", "foo", "x", "Close", "RANK", "nan", "inf", "e",
)
_SYMBOLS = ("+", "-", "*", "/", "^", "<", "<=", ">", ">=", "==", "!=", "||", "&&", "!", "?", ":", "(", ")",
            ",", " ", "  ")
_NUMBERS = ("0", "1", "5", "9.91", "-3", "1e300", "1e-310", "1e400", "0.0", "00012", ".5", "5.", "1e",
            "9" * 40, "1" * 5000, "2.5e-3", "0x10", "1_000", "NaN", "\u0661\u0662")
_JUNK = ("é", "∑", "\u200b", "\x00", "\n", "\t", "'", '"', "#", "$", "@", "[", "]", "{", "}", ";", "\\",
         "🙂", "adv" + "9" * 30, "adv" + "7" * 4301)


@dataclasses.dataclass(frozen=True)
class Failure:
    """One failure: its class (``where:what``), the input (shortened) and the error text."""

    kind: str
    input: str
    detail: str

    def short(self) -> str:
        text = self.input if len(self.input) < 160 else self.input[:157] + "..."
        return f"{self.kind}: {text!r}: {self.detail.strip().splitlines()[-1][:200]}"


def _raw(where: str, exc: BaseException, text: str) -> Failure:
    detail = "".join(traceback.format_exception(exc))
    return Failure(f"{where}:{type(exc).__name__}", text, detail)


# -- parser --------------------------------------------------------------------------------------------------
def random_expression(rng: np.random.Generator) -> str:
    """Random text from the grammar's tokens and junk: well-formed calls, unbalanced parentheses, huge
    numbers, unicode, deep nesting (``x ^ x ^ ...``, ``-(-(...))``, ``rank(rank(...))``) and long inputs."""
    style = rng.integers(6)
    if style == 0:  # deep nesting of one form
        n = int(rng.integers(50, 1200))
        form = rng.integers(5)
        if form == 0:
            return "close" + "^close" * n
        if form == 1:
            return "-" * n + "close"
        if form == 2:
            return "rank(" * n + "close" + ")" * int(rng.integers(n - 2, n + 2))
        if form == 3:
            return "(" * n + "1" + ")" * n
        return "!" * n + "close"
    if style == 1:  # long sums
        n = int(rng.integers(100, 3000))
        return " + ".join(f"delay(close, {int(k)})" for k in rng.integers(1, 600, size=n))
    if style == 2:  # a well-formed call tree, then mutated
        text = _tree(rng, int(rng.integers(1, 6)))
        for _ in range(int(rng.integers(0, 4))):
            i = int(rng.integers(len(text) + 1))
            j = min(len(text), i + int(rng.integers(0, 4)))
            text = text[:i] + _piece(rng) + text[j:]
        return text
    pieces = [_piece(rng) for _ in range(int(rng.integers(0, 40 if style < 5 else 400)))]
    return "".join(pieces)


def _piece(rng: np.random.Generator) -> str:
    pool = (_NAMES, _SYMBOLS, _NUMBERS, _JUNK)[int(rng.choice(4, p=(0.35, 0.35, 0.2, 0.1)))]
    return str(pool[int(rng.integers(len(pool)))])


def _tree(rng: np.random.Generator, depth: int) -> str:
    if depth <= 0 or rng.random() < 0.2:
        return str(rng.choice(("close", "open", "volume", "vwap", "returns", "adv20", "cap", "1.5", "-2")))
    a, b = _tree(rng, depth - 1), _tree(rng, depth - 1)
    d = str(rng.choice(("1", "5", "9.91", "0", "-4", "10001", "1e9", "close")))
    return str(rng.choice((
        f"rank({a})", f"ts_rank({a}, {d})", f"correlation({a}, {b}, {d})",
        f"({a}) {rng.choice(_SYMBOLS)} {b}",
        f"{a} ? {b} : {a}", f"indneutralize({a}, IndClass.sector)", f"signedpower({a}, {b})", f"-{a}",
        f"decay_linear({a}, {d})", f"{a} ^ {b}", f"log({a})", f"scale({a}, {d})",
    )))


def check_parse(text: str, *, cli: bool = False) -> Failure | None:
    """Parse ``text`` (and print its canonical form, look-back and stack; with ``cli``, also run
    ``alpha-env parse``); ``None`` when it parses or fails with an ExpressionError."""
    from alpha_env.errors import AlphaEnvError
    from alpha_env.grammar import canonical, lookback, parse, to_stack

    try:
        expr = parse(text)
        canonical(expr)
        lookback(expr)
        to_stack(expr)
    except AlphaEnvError:
        pass
    except BaseException as exc:  # noqa: BLE001 - the point is to classify everything else
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _raw("parse", exc, text)
    return run_cli(["parse", text], text) if cli else None


def run_cli(argv: list[str], label: str) -> Failure | None:
    """Run the CLI in this process; a failure for an exit code other than 0/1/2, an exception or a
    traceback on stderr."""
    from alpha_env.cli import main as cli_main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _raw(f"cli {argv[0]}", exc, label)
    if code not in (0, 1, 2):
        return Failure(f"cli {argv[0]}:exit {code}", label, err.getvalue()[-500:] or "(no stderr)")
    if "Traceback (most recent call last)" in err.getvalue():
        return Failure(f"cli {argv[0]}:traceback", label, err.getvalue()[-500:])
    return None


# -- simulations and episodes --------------------------------------------------------------------------------
def adversarial_panel(rng: np.random.Generator, n_stocks: int = 12, n_days: int = 250) -> Any:
    """A small synthetic market whose prices and volumes hold NaN runs, ±inf, subnormals (1e-310), huge
    values (1e300), zeros and constant stocks (a :class:`~alpha_env.data.MarketPanel`)."""
    from alpha_env.data import MarketPanel, synthetic_market

    base = synthetic_market(seed=int(rng.integers(1 << 31)), n_stocks=n_stocks, n_days=n_days, news=False)
    names = ("open", "high", "low", "close", "volume", "vwap")
    fields = {name: np.array(base.field(name)) for name in names}
    for _ in range(int(rng.integers(1, 8))):
        name = names[int(rng.integers(len(names)))]
        arr = fields[name]
        j = int(rng.integers(n_stocks))
        t0 = int(rng.integers(n_days))
        t1 = min(n_days, t0 + int(rng.integers(1, 30)))
        kind = int(rng.integers(7))
        if kind == 0:
            arr[t0:t1, j] = np.nan
        elif kind == 1:
            arr[t0, j] = float(rng.choice((np.inf, -np.inf)))
        elif kind == 2:
            arr[t0:t1, j] = 1e-310
        elif kind == 3:
            arr[t0:t1, j] = 1e300
        elif kind == 4:
            arr[t0:t1, j] = 0.0
        elif kind == 5:
            for other in names[:4] + ("vwap",):
                fields[other][:, j] = 7.0  # a constant stock
        else:
            arr[t0:t1, j] *= float(rng.choice((1e150, 1e-150, -1.0)))
    groups = {g: (base.group(g), base.group_labels(g)) for g in base.group_names if g != "market"}
    return MarketPanel(base.dates, base.tickers, fields, groups=groups, splits=dict(base.splits))


#: Expressions of issue 19's reproducers, simulated on every adversarial panel.
_PROBES = ("product(returns, 60) ^ 3", "close * 1e306", "signedpower(adv20, returns ^ -1)", "close / 1e-300",
           "1 / (close - close)", "stddev(close, 5)", "ts_zscore(close * 1e15, 5)", "rank(close - vwap)")


def simulation_probes(rng: np.random.Generator, n_random: int = 4, n_corpus: int = 3) -> list[str]:
    """Expressions to simulate on one panel: issue 19's reproducers, ``n_random`` random well-formed
    trees and ``n_corpus`` alphas of the 101-alpha corpus."""
    from alpha_env.grammar import alpha101, canonical

    corpus = alpha101()
    picks = [canonical(corpus[int(k)].expr) for k in rng.integers(len(corpus), size=n_corpus)]
    return [*_PROBES, *(_tree(rng, int(rng.integers(1, 5))) for _ in range(n_random)), *picks]


def check_simulation(ace: Any, text: str) -> Failure | None:
    """Simulate ``text`` with ``ace``; a failure for a raw exception, a non-degenerate result whose PnL is
    not finite, or a split metric that is a number where the split's PnL holds a NaN/inf."""
    from alpha_env.errors import AlphaEnvError

    try:
        result = ace.simulate(text, save=False)
    except AlphaEnvError:
        return None
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _raw("simulate", exc, text)
    pnl = np.asarray(result.pnl, dtype=np.float64)
    if result.degenerate_reason is None and not np.isfinite(pnl).all():
        bad = int((~np.isfinite(pnl)).sum())
        return Failure("simulate:nan pnl not degenerate", text, f"{bad} non-finite PnL days, no reason")
    for split, window in ace.panel.splits.items():
        metrics = result.metrics.get(split, {})
        sharpe = metrics.get("sharpe")
        if not np.isfinite(pnl[window]).all() and sharpe is not None and np.isfinite(sharpe):
            return Failure("simulate:metric from nan pnl", text, f"{split} sharpe {sharpe} with NaN PnL")
        held = pnl[window][np.asarray(result.backtest.held)[window]]
        if sharpe == 0.0 and np.isfinite(held).all() and held.size > 1 and np.any(held != held[0]):
            return Failure("simulate:sharpe 0 on varying pnl", text,
                           f"{split}: max |PnL| {np.abs(held).max():g}")
    return None


def check_episode(env: Any, agent: Any, seed: int, reasons: Counter[str] | None = None) -> Failure | None:
    """One masked random episode: no step may raise, the reward must be finite, and a ``complete`` episode
    must have a finite train-window PnL (``reasons`` counts the episodes' end reasons)."""
    label = f"episode seed {seed}"
    try:
        obs, info = env.reset(seed=seed)
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(agent.act(obs["action_mask"]))
            done = terminated or truncated
            label = f"episode seed {seed}: {info.get('expression') or env.unwrapped.stack_text()}"
            if not isinstance(reward, float | int) or not np.isfinite(reward):
                return Failure("env:non-finite reward", label, repr(reward))
        if reasons is not None:
            reasons[str(info.get("reason"))] += 1
        if info.get("reason") == "complete":
            score = env.unwrapped.ace.score(info["expression"], "train")
            if not np.isfinite(score.pnl[env.unwrapped.panel.splits["train"]]).all():
                return Failure("env:reward paid on nan pnl", label, f"reward {reward}")
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _raw("env.step", exc, label)
    # a non-finite action is an invalid action, never an exception
    for action in (float("inf"), float("nan"), -1, 10**30):
        try:
            env.reset(seed=seed)
            _, reward, terminated, _, info = env.step(action)
            if not terminated or info.get("reason") != "invalid_action" or not np.isfinite(reward):
                return Failure("env:bad action accepted", f"{label}: action {action!r}",
                               repr(info.get("reason")))
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            return _raw("env.step", exc, f"{label}: action {action!r}")
    return None


# -- data files ----------------------------------------------------------------------------------------------
_DATA_KINDS = ("missing_column", "bad_date", "duplicate", "intraday", "non_finite", "truncated_gz", "empty",
               "header_only", "garbage", "negative", "stray_date", "short", "good")


def write_bad_data_file(rng: np.random.Generator, folder: Path) -> tuple[Path, str]:
    """Write one broken (or good) price file into ``folder``; returns its path and its kind."""
    import pandas as pd

    kind = _DATA_KINDS[int(rng.integers(len(_DATA_KINDS)))]
    n_days = int(rng.integers(30, 80)) if kind != "short" else int(rng.integers(1, 3))
    dates = pd.bdate_range("2013-01-02", periods=n_days).strftime("%Y-%m-%d")
    tickers = [f"T{k}" for k in range(int(rng.integers(2, 6)))]
    rows = [{"date": d, "ticker": tk, "open": 10 + 0.1 * i, "high": 10.3 + 0.1 * i, "low": 9.7 + 0.1 * i,
             "close": 10 + 0.1 * i, "volume": 1000.0 + i} for tk in tickers for i, d in enumerate(dates)]
    df = pd.DataFrame(rows).astype({"close": object, "high": object, "date": object})
    r = int(rng.integers(len(df)))
    if kind == "missing_column":
        df = df.drop(columns=[str(rng.choice(["close", "date", "ticker", "volume", "open"]))])
    elif kind == "bad_date":
        df.loc[r, "date"] = str(rng.choice(["2013-02-30", "yesterday", "", "99999-01-01", "13/45/2013"]))
    elif kind == "duplicate":
        df = pd.concat([df, df.iloc[[r]]], ignore_index=True)
    elif kind == "intraday":
        df["date"] = df["date"] + " 15:30"
        extra = df.iloc[[r]].copy()
        extra["date"] = extra["date"].str.replace("15:30", "10:00")
        df = pd.concat([df, extra], ignore_index=True)
    elif kind == "non_finite":
        column = str(rng.choice(["close", "high"]))
        df.loc[r, column] = str(rng.choice(["inf", "-inf", "1e400", "nan", "NaN"]))
    elif kind == "negative":
        df.loc[r, "close"] = float(rng.choice([-5.0, 0.0, 1e-310, 1e300]))
    elif kind == "stray_date":
        df.loc[r, "date"] = "1600-01-01"
    gz = kind == "truncated_gz" or rng.random() < 0.2
    path = folder / f"prices_{kind}_{int(rng.integers(1 << 30))}.csv{'.gz' if gz else ''}"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "header_only":
        path.write_text("date,ticker,open,high,low,close,volume\n")
    elif kind == "garbage":
        path.write_bytes(rng.integers(0, 256, size=int(rng.integers(1, 400)), dtype=np.uint8).tobytes())
    else:
        raw = df.to_csv(index=False).encode()
        if gz:
            raw = gzip.compress(raw)
            if kind == "truncated_gz":
                raw = raw[: int(rng.integers(1, len(raw)))]
        path.write_bytes(raw)
    return path, kind


def check_data_file(path: Path, kind: str = "", *, cli: bool = True) -> Failure | None:
    """Load and check one file (and ``alpha-env data info|check`` it); a failure for a raw exception,
    a non-finite price that loads, or a file with an empty split that loads."""
    import warnings

    from alpha_env.data import check_dataset, load_panel
    from alpha_env.errors import AlphaEnvError

    label = f"{kind}: {path.name}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                panel = load_panel(path)
            except AlphaEnvError:
                panel = None
            check_dataset(path)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _raw("data", exc, label)
    if panel is not None:
        names = [f for f in ("open", "high", "low", "close") if f in panel.field_names]
        prices = [np.asarray(panel.field(f)) for f in names]
        if any(np.isinf(p).any() for p in prices):
            return Failure("data:inf price loaded", label, "an infinite price loaded without an error")
        if any(s.stop - s.start <= 0 for s in _slices(panel)):
            return Failure("data:empty split loaded", label, f"splits {dict(panel.splits)}")
    if cli:
        for argv in (["data", "info", str(path)], ["data", "check", str(path)]):
            failure = run_cli(argv, label)
            if failure is not None:
                return failure
    return None


def _slices(panel: Any) -> list[slice]:
    n = len(panel.dates)
    return [slice(*s.indices(n)[:2]) for s in panel.splits.values()]


# -- stores --------------------------------------------------------------------------------------------------
_STORE_ALPHAS = ("rank(-delta(close, 5))", "ts_rank(volume, 10)", "correlation(close, volume, 10)",
                 "-returns", "rank(close - vwap)")
_DAMAGE_KINDS = ("bytes_after_header", "bad_json", "bad_blob", "truncated", "foreign", "drop_table",
                 "random_bytes", "zero_file", "wal_junk")


def build_store(path: Path, panel: Any, n_alphas: int = 3) -> list[str]:
    """A store at ``path`` with ``n_alphas`` simulated alphas of ``panel``; returns their ids."""
    from alpha_env.ace import ACE, AlphaStore

    with AlphaStore(path) as store:
        ace = ACE(panel, store=store)
        return [ace.simulate(text).alpha_id for text in _STORE_ALPHAS[:n_alphas]]


def damage_store(rng: np.random.Generator, path: Path) -> str:
    """Damage the store file at ``path`` in one of several ways; returns the kind of damage."""
    kind = _DAMAGE_KINDS[int(rng.integers(len(_DAMAGE_KINDS)))]
    if kind in ("bad_json", "bad_blob", "drop_table"):
        con = sqlite3.connect(path)
        with con:
            if kind == "bad_json":
                column = str(rng.choice(["metrics_json", "yearly_json", "checks_json", "metadata_json"]))
                value = str(rng.choice(["{", "[1,2", "nan", "null", '"x"', '{"train": 5}',
                                         '{"train": {"sharpe": "x"}}', '{"valid": [1]}', "\xff"]))
                con.execute(f"UPDATE simulations SET {column} = ?"
                            " WHERE id = (SELECT MIN(id) FROM simulations)", (value,))
            elif kind == "bad_blob":
                column = str(rng.choice(["pnl", "turnover", "dates"]))
                blob = rng.integers(0, 256, size=int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
                con.execute(f"UPDATE pnl_series SET {column} = ?", (blob,))
            else:
                con.execute(f"DROP TABLE {rng.choice(['pnl_series', 'submissions', 'pools', 'simulations'])}")
        con.close()
        return kind
    data = bytearray(path.read_bytes())
    if kind == "bytes_after_header":
        start = int(rng.integers(100, max(101, len(data))))
        for i in range(start, min(len(data), start + int(rng.integers(16, 4096)))):
            data[i] = int(rng.integers(256))
    elif kind == "truncated":
        data = data[: int(rng.integers(0, max(1, len(data))))]
    elif kind == "random_bytes":
        for i in rng.integers(0, len(data), size=int(rng.integers(1, 200))):
            data[int(i)] = int(rng.integers(256))
    elif kind == "zero_file":
        data = bytearray(len(data))
    elif kind == "wal_junk":
        Path(str(path) + "-wal").write_bytes(rng.integers(0, 256, size=4096, dtype=np.uint8).tobytes())
    else:  # foreign: another application's SQLite file
        path.unlink()
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT)")
        con.execute("INSERT INTO customers(name) VALUES ('x')")
        con.commit()
        con.close()
        return kind
    path.write_bytes(bytes(data))
    return kind


def check_store(path: Path, ids: list[str], kind: str = "") -> Failure | None:
    """Every read of a (damaged) store, in Python and through ``alpha-env top|report``: StoreError or a
    result, never a raw error; a foreign file must be refused."""
    from alpha_env.ace import AlphaStore
    from alpha_env.errors import AlphaEnvError

    label = f"{kind}: {path.name}"
    opened = False
    try:
        with AlphaStore(path, create=False) as store:
            opened = True
            reads: list[Callable[[], Any]] = [store.counts, store.integrity_check, store.splits, store.top,
                                              lambda: store.top(split="train", n=None), store.pools,
                                              store.submissions, store.submitted]
            reads += [lambda i=i: store.get(i) for i in ids]
            for read in reads:
                try:
                    read()
                except AlphaEnvError:
                    pass
    except AlphaEnvError:
        pass
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _raw("store", exc, label)
    if kind == "foreign" and opened:
        return Failure("store:foreign file accepted", label, "a foreign SQLite file opened as a store")
    for argv in (["top", "--db", str(path)], ["top", "--db", str(path), "--split", "train"],
                 *(["report", i, "--db", str(path)] for i in ids[:2])):
        failure = run_cli(argv, label)
        if failure is not None:
            return failure
    return None


def check_failed_write(path: Path, ace: Any, text: str) -> Failure | None:
    """Make a save fail inside its transaction (a PnL that cannot be packed); the store must stay
    readable with the same counts, and a later good save must work."""
    from alpha_env.ace import AlphaStore

    label = f"failed write: {text}"
    try:
        with AlphaStore(path) as store:
            before = store.counts()
            result = ace.simulate(text, save=False)
            bad = dataclasses.replace(result, pnl=np.array(["x"] * len(result.pnl), dtype=object))
            with contextlib.suppress(Exception):
                store.save(bad)
        with AlphaStore(path, create=False) as store:
            after = store.counts()
            if after != before:
                return Failure("store:partial write", label, f"counts {before} -> {after}")
            if store.integrity_check() != "ok":
                return Failure("store:damaged by failed write", label, store.integrity_check())
            store.save(result)
            store.get(result.alpha_id)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _raw("store write", exc, label)
    return None


# -- the run -------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Tally:
    """Inputs tried and failures per area."""

    tried: Counter[str] = dataclasses.field(default_factory=Counter)
    failures: dict[str, list[Failure]] = dataclasses.field(default_factory=dict)
    reasons: Counter[str] = dataclasses.field(default_factory=Counter)
    seconds: Counter[str] = dataclasses.field(default_factory=Counter)

    def add(self, area: str, failure: Failure | None) -> None:
        self.tried[area] += 1
        if failure is not None:
            self.failures.setdefault(failure.kind, []).append(failure)


def run(n_parser: int, n_episodes: int, n_data: int, n_stores: int, seed: int, folder: Path,
        log: Callable[[str], None] = print) -> Tally:
    """Run the four fuzzers; returns the tally."""
    import gymnasium as gym

    import alpha_env.env  # noqa: F401 - registers the ids
    from alpha_env.ace import ACE
    from alpha_env.data import synthetic_market
    from alpha_env.env import MaskedRandomAgent

    tally = Tally()
    rng = np.random.default_rng(seed)

    t0 = time.perf_counter()
    for i in range(n_parser):
        tally.add("parser inputs", check_parse(random_expression(rng), cli=i % 20 == 0))
    tally.seconds["parser inputs"] = time.perf_counter() - t0
    log(f"parser: {n_parser} inputs in {tally.seconds['parser inputs']:.0f} s")

    t0 = time.perf_counter()
    episodes_per_panel = 25
    env = None
    for i in range(n_episodes):
        if i % episodes_per_panel == 0:
            if env is not None:
                env.close()
            panel = adversarial_panel(rng)
            env = gym.make("AlphaEnv/AlphaStack-v0", data=panel, max_len=int(rng.integers(8, 20)))
            ace = env.unwrapped.ace
            for text in simulation_probes(rng):
                tally.add("simulations", check_simulation(ace, text))
        tally.add("episodes", check_episode(env, MaskedRandomAgent(seed=i), seed=i, reasons=tally.reasons))
    if env is not None:
        env.close()
    tally.seconds["episodes"] = time.perf_counter() - t0
    log(f"episodes: {n_episodes} in {tally.seconds['episodes']:.0f} s")

    t0 = time.perf_counter()
    data_dir = folder / "data"
    data_dir.mkdir(exist_ok=True)
    for i in range(n_data):
        path, kind = write_bad_data_file(rng, data_dir)
        tally.add("data files", check_data_file(path, kind, cli=i % 4 == 0))
        path.unlink()
    tally.seconds["data files"] = time.perf_counter() - t0
    log(f"data files: {n_data} in {tally.seconds['data files']:.0f} s")

    t0 = time.perf_counter()
    panel = synthetic_market(seed=seed, n_stocks=12, n_days=80, news=False)
    pristine = folder / "pristine.db"
    ids = build_store(pristine, panel)
    ace = ACE(panel)
    for i in range(n_stores):
        path = folder / f"store_{i}.db"
        path.write_bytes(pristine.read_bytes())
        kind = damage_store(rng, path)
        tally.add("damaged stores", check_store(path, ids, kind))
        if i % 5 == 0:
            intact = folder / f"intact_{i}.db"
            intact.write_bytes(pristine.read_bytes())
            tally.add("failed writes", check_failed_write(intact, ace, _STORE_ALPHAS[-1]))
            intact.unlink()
        for p in folder.glob(f"store_{i}.db*"):
            p.unlink()
    tally.seconds["damaged stores"] = time.perf_counter() - t0
    log(f"stores: {n_stores} in {tally.seconds['damaged stores']:.0f} s")
    return tally


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parser", type=int, default=20_000, help="parser inputs (every 20th also via the CLI)")
    ap.add_argument("--episodes", type=int, default=2_000, help="masked random episodes (25 per panel)")
    ap.add_argument("--data-files", type=int, default=200, help="bad data files (every 4th also via the CLI)")
    ap.add_argument("--stores", type=int, default=100, help="damaged stores (every 5th also a failed write)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: 500 / 50 / 20 / 10")
    args = ap.parse_args(argv)
    if args.quick:
        args.parser, args.episodes, args.data_files, args.stores = 500, 50, 20, 10
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="alpha_env_fuzz_") as tmp:
        tally = run(args.parser, args.episodes, args.data_files, args.stores, args.seed, Path(tmp))
    print(f"\nfuzz run, seed {args.seed}, {time.perf_counter() - start:.0f} s")
    print(f"{'area':<16}{'tried':>8}{'seconds':>9}")
    for area, n in tally.tried.items():
        print(f"{area:<16}{n:>8}{tally.seconds.get(area, 0):>9.0f}")
    print("episode ends: " + ", ".join(f"{k} {v}" for k, v in tally.reasons.most_common()))
    n_fail = sum(len(v) for v in tally.failures.values())
    print(f"failures: {n_fail}")
    for _kind, items in sorted(tally.failures.items()):
        print(f"  {len(items):>5}  {items[0].short()}")
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
