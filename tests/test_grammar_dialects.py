"""The Qlib and BRAIN dialects: every mapped name, round trips to the 101 language, look-ahead refusal,
keyword arguments, errors naming the name and the dialect, Qlib's semantics against pandas/scipy
references written from Qlib's definitions, and Alpha158 parsing and evaluating on the synthetic market.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import percentileofscore

from alpha_env.data import synthetic_market
from alpha_env.errors import ExpressionError
from alpha_env.evaluate.evaluator import Evaluator
from alpha_env.grammar import Codebook, OpToken
from alpha_env.grammar.alpha158 import alpha158
from alpha_env.grammar.codebook import read_vocabulary
from alpha_env.grammar.dialects import brain, qlib
from alpha_env.grammar.parser import DIALECTS, parse
from alpha_env.grammar.printer import canonical


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(seed=3, n_stocks=12, n_days=160)


@pytest.fixture(scope="module")
def ev(panel):
    return Evaluator(panel)


# ------------------------------------------------------------------------------------------- mapping
QLIB_CASES: dict[str, tuple[str, str]] = {
    "ref": ("Ref($close, 5)", "delay(close, 5)"),
    "mean": ("Mean($close, 5)/$close", "ts_mean(close, 5) / close"),
    "sum": ("Sum($volume, 10)", "sum(volume, 10)"),
    "std": ("Std($close, 20)", "stddev(close, 20)"),
    "var": ("Var($close, 20)", "stddev(close, 20) ^ 2"),
    "skew": ("Skew($close, 10)", "ts_skewness(close, 10)"),
    "kurt": ("Kurt($close, 10)", "ts_kurtosis(close, 10)"),
    "max": ("Max($high, 5)", "ts_max(high, 5)"),
    "min": ("Min($low, 5)", "ts_min(low, 5)"),
    "idxmax": ("IdxMax($high, 5)", "ts_argmax(high, 5)"),
    "idxmin": ("IdxMin($low, 5)", "ts_argmin(low, 5)"),
    "quantile": ("Quantile($close, 10, 0.8)", "ts_quantile(close, 10, 0.8)"),
    "med": ("Med($close, 10)", "ts_quantile(close, 10, 0.5)"),
    "mad": ("Mad($close, 10)", "ts_mad(close, 10)"),
    "rank": ("Rank($close, 10)", "ts_rank(close, 10) * 10"),
    "delta": ("Delta($close, 3)", "delta(close, 3)"),
    "slope": ("Slope($close, 10)", "ts_slope(close, 10)"),
    "rsquare": ("Rsquare($close, 10)", "ts_rsquare(close, 10)"),
    "resi": ("Resi($close, 10)", "ts_resi(close, 10)"),
    "wma": ("WMA($close, 5)", "decay_linear(close, 4) / 5"),
    "corr": ("Corr($close, Log($volume+1), 10)", "correlation(close, log(volume + 1), 10)"),
    "cov": ("Cov($close, $volume, 10)", "covariance(close, volume, 10)"),
    "greater": ("Greater($close-Ref($close, 1), 0)", "max(0, close - delay(close, 1))"),
    "less": ("Less($open, $close)", "min(open, close)"),
    "if": ("If($close>$open, $high, $low)", "close > open ? high : low"),
    "eq": ("Eq($close, $open)", "close == open"),
    "ne": ("Ne($close, $open)", "close != open"),
    "gt": ("Gt($close, $open)", "close > open"),
    "ge": ("Ge($close, $open)", "close >= open"),
    "lt": ("Lt($close, $open)", "close < open"),
    "le": ("Le($close, $open)", "close <= open"),
    "and": ("And($close>$open, $high>$low)", "close > open && high > low"),
    "or": ("Or($close>$open, $high>$low)", "close > open || high > low"),
    "not": ("Not($close>$open)", "!(close > open)"),
    "add": ("Add($close, $open)", "close + open"),
    "sub": ("Sub($close, $open)", "close - open"),
    "mul": ("Mul($close, $open)", "close * open"),
    "div": ("Div($close, $open)", "close / open"),
    "abs": ("Abs($close-$open)", "abs(close - open)"),
    "sign": ("Sign($close-$open)", "sign(close - open)"),
    "log": ("Log($volume)", "log(volume)"),
    "power": ("Power($close, 2)", "close ^ 2"),
    "count": ("Count($close, 10)", "10 - ts_count_nans(close, 10)"),
    "ema": ("EMA($close, 10)", "ts_ema(close, 10)"),
}

BRAIN_CASES: dict[str, tuple[str, str]] = {
    "ts_std_dev": ("ts_std_dev(close, 20)", "stddev(close, 20)"),
    "ts_av_diff": ("ts_av_diff(close, 10)", "close - ts_mean(close, 10)"),
    "ts_regression": ("ts_regression(close, volume, 20, rettype=2)",
                      "covariance(close, volume, 20) / stddev(volume, 20) ^ 2"),
    "ts_scale": ("ts_scale(close, 10)",
                 "(close - ts_min(close, 10)) / (ts_max(close, 10) - ts_min(close, 10))"),
    "ts_arg_max": ("ts_arg_max(close, 10)", "10 - ts_argmax(close, 10)"),
    "ts_arg_min": ("ts_arg_min(close, 10)", "10 - ts_argmin(close, 10)"),
    "ts_rank": ("ts_rank(close, 10, constant=1)", "ts_rank(close, 10) + 1"),
    "ts_decay_linear": ("ts_decay_linear(close, 5)", "decay_linear(close, 5)"),
    "reverse": ("reverse(close)", "-close"),
    "inverse": ("inverse(close)", "1 / close"),
    "normalize": ("normalize(close)", "indneutralize(close, market)"),
    "winsorize": ("winsorize(close, std=4)",
                  "abs(zscore(close)) > 4 ? group_mean(close, market) + 4 * sign(zscore(close)) * ((close - "
                  "group_mean(close, market)) / zscore(close)) : close"),
    "group_mean": ("group_mean(close, 1, industry)", "group_mean(close, industry)"),
    "densify": ("group_neutralize(close, densify(sector))", "indneutralize(close, sector)"),
    "rank": ("rank(close, rate=0)", "rank01(close)"),
    "group_rank": ("group_rank(close, sector)", "group_rank01(close, sector)"),
    "ts_backfill": ("ts_backfill(close, lookback=5, k=1)", "ts_backfill(close, 5)"),
    "ts_count_nans": ("ts_count_nans(close, 5)", "ts_count_nans(close, 5)"),
    "is_nan": ("is_nan(close)", "ts_count_nans(close, 1)"),
    "trade_when": ("trade_when(volume > adv20, rank(-returns), -1)",
                   "trade_when(volume > adv20, rank01(-returns), -1)"),
    "bucket": ('bucket(rank(volume), range="0.1, 1, 0.1")', "bucket(rank01(volume) - 0.1, 0.9, 0.1)"),
    "signed_power": ("signed_power(close, 2)", "signedpower(close, 2)"),
    "power": ("power(close, 2)", "close ^ 2"),
    "if_else": ("if_else(close > open, high, low)", "close > open ? high : low"),
    "vec_sum": ("vec_sum(close)", "vec_avg(close)"),
    "vec_avg": ("vec_avg(close)", "vec_avg(close)"),
    "add": ("add(close, open, volume)", "close + open + volume"),
    "multiply": ("multiply(close, open, filter=false)", "close * open"),
    "subtract": ("subtract(close, open)", "close - open"),
    "max": ("max(close, 5, open)", "max(max(5, close), open)"),
    "min": ("min(close, open)", "min(close, open)"),
}


def test_every_mapped_name_has_a_case():
    assert set(QLIB_CASES) == set(qlib.names())
    assert set(BRAIN_CASES) == set(brain.names())


@pytest.mark.parametrize("dialect,cases", [("qlib", QLIB_CASES), ("brain", BRAIN_CASES)])
def test_names_map_onto_the_one_table_and_round_trip(dialect, cases, ev):
    for name, (text, expected) in cases.items():
        expr = parse(text, dialect=dialect)
        assert canonical(expr) == expected, name
        again = parse(canonical(expr))  # dialect text -> AST -> canonical 101 text -> the same AST
        assert again == expr, name
        a, b = ev.evaluate(expr), ev.evaluate(again)
        np.testing.assert_array_equal(a, b)  # the same signal


def test_auto_dialect_reads_the_one_notation_or_names_the_ambiguity():
    assert canonical(parse("Mean($close, 5)/$close", dialect="auto")) == "ts_mean(close, 5) / close"
    assert canonical(parse("ts_std_dev(close, 20)", dialect="auto")) == "stddev(close, 20)"
    assert canonical(parse("abs(ts_delta(close, 5))", dialect="auto")) == "abs(delta(close, 5))"  # one tree
    with pytest.raises(ExpressionError, match=r"alpha101: rank\(close\); brain: rank01\(close\)"):
        parse("rank(close)", dialect="auto")  # r / n in the 101 language, (r - 1) / (n - 1) in BRAIN
    message = r"the dialects alpha101, brain read it differently \(alpha101: ts_max\(close, 5\); brain: max"
    with pytest.raises(ExpressionError, match="ambiguous expression: " + message):
        parse("max(close, 5)", dialect="auto")
    with pytest.raises(ExpressionError, match="look-ahead"):
        parse("Ref($close, -1)", dialect="auto")


@pytest.mark.parametrize("text", ["foo(", "Mean($close,", "a = ; 1", "f(x=)", "(", "$", "'abc", "1 ? 2", ""])
@pytest.mark.parametrize("dialect", ["qlib", "brain", "auto"])
def test_malformed_text_gives_expression_errors(dialect, text):
    with pytest.raises(ExpressionError):
        parse(text, dialect=dialect)


def test_default_dialect_unchanged_and_unknown_dialect_refused():
    assert DIALECTS == ("alpha101", "qlib", "brain")
    assert parse("rank(-delta(close, 5))") == parse("rank(-delta(close, 5))", dialect="alpha101")
    with pytest.raises(ExpressionError, match="unknown dialect 'sql'"):
        parse("close", dialect="sql")


# ---------------------------------------------------------------------------------- syntax and errors
def test_qlib_syntax_is_pythons():
    assert canonical(parse("-$close**2", dialect="qlib")) == "-close ^ 2"
    assert canonical(parse("$close ** -1", dialect="qlib")) == "close ^ -1"
    assert canonical(parse("($close>$open) & ($high>$low) | ($low<0)", dialect="qlib")) == \
        "close > open && high > low || low < 0"
    with pytest.raises(ExpressionError, match="chained comparison"):
        parse("$close > $open & $high > $low", dialect="qlib")  # Python reads $close > ($open & $high) > $low


def test_qlib_fields_need_the_dollar():
    with pytest.raises(ExpressionError,
                       match=r"unknown name 'close' in the qlib dialect \(fields are written \$close\)"):
        parse("Mean(close, 5)", dialect="qlib")
    with pytest.raises(ExpressionError, match="must be followed by a field name"):
        parse("$ + 1", dialect="qlib")


@pytest.mark.parametrize("text,message", [
    ("Ref($close, -5)", "look-ahead: Ref with a negative offset reads the future"),
    ("Ref($close, 0)", "Qlib's first value of the whole series"),
    ("Mean($close, 0)", "expanding window"),
    ("Mean($close, 2.5)", "whole number of days"),
    ("Skew($close, 2)", "at least 3"),
    ("WMA($close, 1)", "at least 2"),
    ("Quantile($close, 5)", "needs its argument 'qscore'"),
    ("Quantile($close, 5, 1.5)", r"qscore must be a number in \[0, 1\]"),
])
def test_qlib_refusals(text, message):
    with pytest.raises(ExpressionError, match=message):
        parse(text, dialect="qlib")


def test_brain_look_ahead_refused():
    with pytest.raises(ExpressionError, match="look-ahead: ts_regression with a negative lag"):
        parse("ts_regression(close, volume, 20, lag=-1)", dialect="brain")


@pytest.mark.parametrize("dialect,text,name", [
    ("qlib", "Foo($close)", "Foo"), ("qlib", "ts_mean($close, 5)", "ts_mean"),
    ("brain", "foo(close)", "foo"), ("brain", "Slope(close, 5)", "Slope"),
])
def test_unknown_names_name_the_name_and_the_dialect(dialect, text, name):
    with pytest.raises(ExpressionError, match=f"unknown operator '{name}' in the {dialect} dialect"):
        parse(text, dialect=dialect)


@pytest.mark.parametrize("dialect,text,name", [
    ("qlib", "Mask($close, 'sh600000')", "Mask"), ("brain", "quantile(close)", "quantile"),
    ("brain", "ts_step(1)", "ts_step"),
])
def test_unsupported_names_say_why(dialect, text, name):
    with pytest.raises(ExpressionError, match=f"{name} is not supported in the {dialect} dialect: "):
        parse(text, dialect=dialect)


def test_brain_keyword_arguments():
    assert parse("winsorize(close, std=4)", dialect="brain") == parse("winsorize(close, 4)", dialect="brain")
    assert parse("winsorize(close)", dialect="brain") == parse("winsorize(close, std=4)", dialect="brain")
    assert canonical(parse("normalize(close, useStd=true, limit=3)", dialect="brain")) == \
        "max(-3, min(3, zscore(close)))"
    assert canonical(parse("ts_regression(close, volume, 20, lag=2, rettype=6)", dialect="brain")) == \
        "correlation(close, delay(volume, 2), 20) ^ 2"
    for text, message in [
        ("winsorize(close, sd=4)", "winsorize has no keyword argument 'sd' in the brain dialect"),
        ("winsorize(close, std=4, std=3)", "given twice"),
        ("winsorize(std=4, close)", "a positional argument follows a keyword argument"),
        ("winsorize(close, 4, std=3)", "argument 'std' given twice"),
        ("winsorize(close, 4, 5)", "takes at most 2 arguments"),
        ("add(close, open, filter=true)", "a NaN never becomes a value"),
        ("ts_regression(close, volume, 20, rettype=4)", "rettype 4 is not supported"),
        ("ts_delta(close, d=5)", "ts_delta takes no keyword arguments"),
    ]:
        with pytest.raises(ExpressionError, match=message):
            parse(text, dialect="brain")


def test_brain_statements_and_max_is_element_wise():
    assert canonical(parse("a = rank(close); b = ts_delta(a, 5); -b", dialect="brain")) == \
        "-delta(rank01(close), 5)"
    with pytest.raises(ExpressionError, match="refers to itself"):
        parse("a = a + 1; a", dialect="brain")
    # in the 101 language max(x, 5) is ts_max; in BRAIN it is the element-wise maximum with 5
    assert canonical(parse("max(close, 5)", dialect="brain")) == "max(5, close)"
    assert canonical(parse("max(close, 5)")) == "ts_max(close, 5)"


# ------------------------------------------------------------------ Qlib's semantics (pandas references)
def _by_stock(x: np.ndarray, fn) -> np.ndarray:
    return np.column_stack([fn(pd.Series(x[:, j])).to_numpy() for j in range(x.shape[1])])


def _full(x: np.ndarray, d: int, extra: int = 0) -> np.ndarray:
    """Days whose window (plus ``extra`` older days) is complete and NaN-free: where Qlib's
    ``min_periods=1`` rolling and alpha-env's agree."""
    ok = np.isfinite(x)
    full = np.zeros_like(ok)
    for t in range(d - 1 + extra, x.shape[0]):
        full[t] = ok[t - d + 1 - extra:t + 1].all(axis=0)
    return full


def _qlib_slope_fit(w: np.ndarray) -> tuple[float, float, float]:
    if len(w) < 2:  # Qlib's 0/0 on a one-day partial window; never compared (not a full window)
        return np.nan, np.nan, np.nan
    days = np.arange(1, len(w) + 1, dtype=float)
    b, a = np.polyfit(days, w, 1)
    r = np.corrcoef(days, w)[0, 1]
    return b, r * r, w[-1] - (a + b * days[-1])


def _qlib_line(s: pd.Series, d: int, which: int) -> pd.Series:
    return s.rolling(d, min_periods=1).apply(lambda w: _qlib_slope_fit(w)[which], raw=True)


def _qlib_wma(w: np.ndarray) -> float:
    if len(w) < 2:  # Qlib's weights 0 / 0 on a one-day partial window; never compared
        return np.nan
    weights = np.arange(len(w)) / np.arange(len(w)).sum()
    return float(np.nanmean(weights * w))


QLIB_REFERENCES = {
    # Qlib: percentileofscore(window, today) / len(window)
    "Rank($close, 10)": lambda s: s.rolling(10, min_periods=1).apply(
        lambda w: percentileofscore(w, w[-1]) / len(w), raw=True),
    # Qlib: weights arange(n) / sum, then nanmean
    "WMA($close, 6)": lambda s: s.rolling(6, min_periods=1).apply(_qlib_wma, raw=True),
    "Std($close, 10)": lambda s: s.rolling(10, min_periods=1).std(),
    "Var($close, 10)": lambda s: s.rolling(10, min_periods=1).var(),
    "Mean($close, 10)": lambda s: s.rolling(10, min_periods=1).mean(),
    "Skew($close, 10)": lambda s: s.rolling(10, min_periods=1).skew(),
    "Kurt($close, 10)": lambda s: s.rolling(10, min_periods=1).kurt(),
    "Quantile($close, 10, 0.8)": lambda s: s.rolling(10, min_periods=1).quantile(0.8),
    "Med($close, 10)": lambda s: s.rolling(10, min_periods=1).median(),
    "Mad($close, 10)": lambda s: s.rolling(10, min_periods=1).apply(
        lambda w: np.mean(np.abs(w - w.mean())), raw=True),
    "IdxMax($high, 10)": lambda s: s.rolling(10, min_periods=1).apply(lambda w: w.argmax() + 1, raw=True),
    "IdxMin($high, 10)": lambda s: s.rolling(10, min_periods=1).apply(lambda w: w.argmin() + 1, raw=True),
    "Slope($close, 10)": lambda s: _qlib_line(s, 10, 0),
    "Rsquare($close, 10)": lambda s: _qlib_line(s, 10, 1),
    "Resi($close, 10)": lambda s: _qlib_line(s, 10, 2),
    "Delta($close, 3)": lambda s: s - s.shift(3),
    "Ref($close, 3)": lambda s: s.shift(3),
}


@pytest.mark.parametrize("text", sorted(QLIB_REFERENCES))
def test_qlib_semantics_match_qlibs_definitions_on_full_windows(text, panel, ev):
    field = "high" if "$high" in text else "close"
    x = np.asarray(panel.field(field), dtype=float)
    ours = ev.evaluate(parse(text, dialect="qlib"))
    ref = _by_stock(x, QLIB_REFERENCES[text])
    d = int(text.split(",")[1].strip(" )"))
    full = _full(x, 1, extra=d) if text.startswith(("Delta", "Ref")) else _full(x, d)
    assert full.sum() > 100
    np.testing.assert_allclose(ours[full], ref[full], rtol=1e-8, atol=1e-10)


# --------------------------------------------------------------------------------- BRAIN's semantics
def test_brain_ts_arg_max_counts_days_back_from_today(ev, panel):
    x = np.asarray(panel.field("close"), dtype=float)
    ours = ev.evaluate(parse("ts_arg_max(close, 5)", dialect="brain"))
    ref = _by_stock(x, lambda s: s.rolling(5).apply(lambda w: 4 - np.argmax(w), raw=True))
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_array_equal(ours[np.isfinite(ref)], ref[np.isfinite(ref)])


def test_brain_ts_regression_against_numpy(ev, panel):
    y = np.asarray(panel.field("close"), dtype=float)
    x = np.asarray(panel.field("volume"), dtype=float)
    d, t = 20, 100
    fits = [np.polyfit(x[t - d + 1:t + 1, j], y[t - d + 1:t + 1, j], 1) for j in range(y.shape[1])]
    beta = ev.evaluate(parse(f"ts_regression(close, volume, {d}, rettype=2)", dialect="brain"))[t]
    alpha = ev.evaluate(parse(f"ts_regression(close, volume, {d}, rettype=1)", dialect="brain"))[t]
    resid = ev.evaluate(parse(f"ts_regression(close, volume, {d})", dialect="brain"))[t]
    np.testing.assert_allclose(beta, [f[0] for f in fits], rtol=1e-7)
    np.testing.assert_allclose(alpha, [f[1] for f in fits], rtol=1e-7)
    np.testing.assert_allclose(resid, y[t] - np.array([f[1] + f[0] * x[t, j] for j, f in enumerate(fits)]),
                               rtol=1e-6, atol=1e-8)


def test_brain_winsorize_clips_at_std_deviations(ev, panel):
    x = np.asarray(panel.field("volume"), dtype=float)
    ours = ev.evaluate(parse("winsorize(volume, std=1)", dialect="brain"))
    mean = np.nanmean(x, axis=1, keepdims=True)
    sd = np.nanstd(x, axis=1, ddof=1, keepdims=True)
    np.testing.assert_allclose(ours, np.clip(x, mean - sd, mean + sd), rtol=1e-9)


# ------------------------------------------------------------------------------------------ Alpha158
def test_alpha158_parses_and_evaluates_on_the_synthetic_market(ev):
    table = alpha158()
    assert len(table) == 158 and len({name for name, _ in table}) == 158
    for name, text in table:
        values = ev.evaluate(parse(text, dialect="qlib"))
        assert np.isfinite(values[61:]).mean() > 0.9, name  # after the longest window (60 days)


# --------------------------------------------------------------------------- the vocabulary is frozen
def test_new_operators_are_parse_only_and_the_default_codebook_is_unchanged():
    book = Codebook.default()
    texts, version = read_vocabulary()
    assert book.texts == texts and book.version == version
    for name in ("ts_quantile", "ts_mad", "ts_slope", "ts_rsquare", "ts_resi"):
        assert OpToken(name) not in book.tokens


def test_genetic_search_keeps_to_the_agent_vocabulary(panel):
    from alpha_env.grammar import OPERATORS
    from alpha_env.search.genetic import DEFAULT_EXCLUDED_OPERATORS, Primitives

    ops = Primitives.for_panel(panel).operators
    assert not {"ts_quantile", "ts_mad", "ts_slope", "ts_rsquare", "ts_resi"} & set(ops)
    vocabulary = {t.name for t in Codebook.default().tokens if isinstance(t, OpToken)}
    assert set(ops) == {op for op in OPERATORS if op in vocabulary} - DEFAULT_EXCLUDED_OPERATORS


# ----------------------------------------------------------------------------------------------- CLI
def test_cli_parse_and_simulate_take_a_dialect(capsys, tmp_path):
    import json

    from alpha_env.cli import main

    assert main(["parse", "--dialect", "qlib", "Mean($close, 5)/$close", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["canonical"] == "ts_mean(close, 5) / close"
    assert main(["parse", "--dialect", "qlib", "Ref($close, -5)"]) != 0
    assert "look-ahead" in capsys.readouterr().err
    alpha = "reverse(ts_av_diff(close, 10))"
    assert main(["simulate", "--dialect", "brain", "--no-store", "--json", alpha]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "ts_mean(close, 10)" in json.dumps(out)


# ------------------------------------------------------------------------------- printing back
@pytest.mark.parametrize("dialect,cases", [("qlib", QLIB_CASES), ("brain", BRAIN_CASES)])
def test_dialect_to_ast_to_dialect_round_trips(dialect, cases):
    from alpha_env.grammar.dialects.printing import to_dialect

    for name, (text, _) in cases.items():
        expr = parse(text, dialect=dialect)
        printed = to_dialect(expr, dialect)
        assert parse(printed, dialect=dialect) == expr, (name, printed)


def _calls(expr):
    from alpha_env.grammar.ast import Call

    if isinstance(expr, Call):
        yield expr
        for arg in expr.args:
            yield from _calls(arg)


def test_the_101_alphas_print_in_brain_and_qlib_names_what_it_cannot_express(ev):
    from alpha_env.grammar import alpha101
    from alpha_env.grammar.dialects.printing import to_dialect

    printed = 0
    for alpha in alpha101():
        ops = {node.op for node in _calls(alpha.expr)}
        if ops & {"rank", "group_rank"}:  # the 101 language's r / n rank has no BRAIN spelling
            with pytest.raises(ExpressionError, match=r"operator '(group_)?rank' is not expressible in the "
                                                      "brain dialect"):
                to_dialect(alpha.expr, "brain")
            continue
        assert parse(to_dialect(alpha.expr, "brain"), dialect="brain") == alpha.expr, alpha.number
        printed += 1
    assert printed >= 10
    with pytest.raises(ExpressionError, match="operator 'rank' is not expressible in the qlib dialect"):
        to_dialect(parse("rank(close)"), "qlib")
    with pytest.raises(ExpressionError, match="'ts_quantile' is not expressible in the brain dialect"):
        to_dialect(parse("ts_quantile(close, 5, 0.2)"), "brain")
    # operators Qlib spells differently print as an equivalent text (same values, another tree)
    for text in ("ts_rank(close, 10)", "decay_linear(close, 5)", "ts_zscore(close, 10)", "sqrt(volume)",
                 "signedpower(close - open, 2)"):
        expr = parse(text)
        back = parse(to_dialect(expr, "qlib"), dialect="qlib")
        np.testing.assert_allclose(ev.evaluate(back), ev.evaluate(expr), rtol=1e-9, atol=1e-12)
