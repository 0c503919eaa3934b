"""The summary statistics of "101 Formulaic Alphas" (Kakushadze, 2015) recomputed on our data.

What the paper reports (quoted from its abstract, arXiv:1601.00991): the 101 alphas' average holding
period ranges from about **0.6 to 6.4 days**; their average pair-wise correlation is low, **15.9%**;
their returns are strongly correlated with their volatility but show **no significant dependence on
turnover**; and turnover has poor explanatory power for the alphas' correlations. The paper's figures
come from its own (undisclosed) US universe and period; ours from the backtests of the study's settings
(delay 1, sector neutralization, truncation 0.1, 0 bps) over each whole panel.

Definitions used here, per alpha over the days from its first held book to the end of the panel:
annual return ``R = 252·mean(pnl)``, volatility ``V = sqrt(252)·std(pnl)``, turnover ``T = mean(daily
Σ|Δw|)`` (fraction of the unit gross book) and holding period ``2 / T`` days (a book replaced once a day
trades 2: sell 1, buy 1). The returns-volatility-turnover relation is the cross-sectional OLS
``ln R = a + b·ln V + c·ln T`` over the alphas with ``R > 0`` (the paper's alphas all earn), reported
with t-statistics; the correlation-turnover relation is the R² of the pairwise PnL correlation
regressed on ``ln T_i + ln T_j`` and ``|ln T_i - ln T_j|``.

``experiments/paper_figures.py`` prints the table for dataset folders; the study adds it to
``results.md`` (:func:`alpha_env.search.study.alpha101_paper_statistics` runs the 101 alphas on one panel).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["PAPER", "paper_statistics", "ols", "paper_markdown"]

#: The paper's own figures (abstract of Kakushadze 2015); ``None`` where it gives no number.
PAPER: dict[str, Any] = {
    "holding_period_range_days": (0.6, 6.4),
    "mean_pairwise_correlation": 0.159,
    "returns_vs_volatility": "strong positive dependence",
    "returns_vs_turnover": "no significant dependence",
    "correlation_vs_turnover": "poor explanatory power",
}


class _Trial(Protocol):
    expression: str
    degenerate: bool
    gross_pnl: np.ndarray
    turnover: np.ndarray


def ols(y: np.ndarray, x: np.ndarray) -> dict[str, Any]:
    """OLS of ``y`` on ``[1, x]``: coefficients, t-statistics and R² (``x`` is ``(n, k)``)."""
    n, k = x.shape
    X = np.column_stack([np.ones(n), x])
    if n <= k + 1:
        return {"coef": [math.nan] * (k + 1), "t": [math.nan] * (k + 1), "r2": math.nan, "n": n}
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    dof = n - k - 1
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.pinv(X.T @ X)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    tss = float(((y - y.mean()) ** 2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, beta / se, np.nan)
    r2 = 1.0 - float(resid @ resid) / tss if tss > 0 else math.nan
    return {"coef": beta.tolist(), "t": t.tolist(), "r2": r2, "n": n}


def paper_statistics(trials: Sequence[_Trial], splits: Mapping[str, slice] | None = None) -> dict[str, Any]:
    """The paper's statistics for simulated alphas (gross PnL; see the module docstring).

    Args:
        trials: objects with ``expression``, ``degenerate``, ``gross_pnl (T,)`` and ``turnover (T,)``.
        splits: unused here (kept for symmetry with the study's other summaries).
    """
    rows = []
    for t in trials:
        if t.degenerate:
            continue
        held = np.flatnonzero(t.turnover > 0)
        if held.size < 20:
            continue
        pnl = np.asarray(t.gross_pnl[held[0]:], dtype=np.float64)
        tv = float(np.mean(t.turnover[held[0]:]))
        if not tv > 0 or not float(pnl.std()) > 0:
            continue
        rows.append((t.expression, 252.0 * float(pnl.mean()), math.sqrt(252.0) * float(pnl.std(ddof=1)), tv,
                     pnl, held[0]))
    out: dict[str, Any] = {"n_alphas": len(rows)}
    if len(rows) < 2:
        return out
    R = np.array([r[1] for r in rows])
    V = np.array([r[2] for r in rows])
    T = np.array([r[3] for r in rows])
    hp = 2.0 / T
    start = max(r[5] for r in rows)
    P = np.vstack([r[4][start - r[5]:] for r in rows])
    C = np.corrcoef(P)
    iu = np.triu_indices(len(rows), k=1)
    pair = C[iu]
    out.update(
        holding_period_min=float(hp.min()), holding_period_p5=float(np.percentile(hp, 5)),
        holding_period_median=float(np.median(hp)), holding_period_p95=float(np.percentile(hp, 95)),
        holding_period_max=float(hp.max()),
        mean_pairwise_correlation=float(pair.mean()), median_pairwise_correlation=float(np.median(pair)),
        n_positive=int((R > 0).sum()), mean_annual_return=float(R.mean()),
        corr_return_volatility=float(np.corrcoef(R, V)[0, 1]),
        corr_return_turnover=float(np.corrcoef(R, T)[0, 1]),
    )
    pos = R > 0
    if pos.sum() > 3:
        out["log_regression"] = ols(np.log(R[pos]), np.column_stack([np.log(V[pos]), np.log(T[pos])]))
    lt = np.log(T)
    x = np.column_stack([(lt[:, None] + lt[None, :])[iu], np.abs(lt[:, None] - lt[None, :])[iu]])
    out["correlation_on_turnover_r2"] = ols(pair, x)["r2"]
    return out


def _fmt(x: Any, spec: str = ".2f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def paper_markdown(stats: Mapping[str, Mapping[str, Any]]) -> str:
    """A side-by-side table: the paper's figures and ours, one column per dataset."""
    names = list(stats)
    head = "| statistic | paper (Kakushadze 2015) | " + " | ".join(names) + " |\n"
    head += "|---|---|" + "---|" * len(names) + "\n"

    def row(label: str, paper: str, fn: Any) -> str:
        return f"| {label} | {paper} | " + " | ".join(fn(stats[n]) for n in names) + " |\n"

    def reg(s: Mapping[str, Any], i: int) -> str:
        r = s.get("log_regression")
        return "n/a" if not r else f"{_fmt(r['coef'][i])} (t = {_fmt(r['t'][i], '.1f')})"

    body = row("alphas computed", "101", lambda s: str(s.get("n_alphas", 0)))
    body += row("holding period, min - max (days)", "0.6 - 6.4",
                lambda s: f"{_fmt(s.get('holding_period_min'))} - {_fmt(s.get('holding_period_max'))}")
    body += row("holding period, 5th - 95th percentile (days)", "n/a",
                lambda s: f"{_fmt(s.get('holding_period_p5'))} - {_fmt(s.get('holding_period_p95'))}")
    body += row("mean pairwise correlation of daily PnL", "15.9%",
                lambda s: _fmt(100 * s.get("mean_pairwise_correlation", math.nan), ".1f") + "%")
    body += row("median pairwise correlation", "n/a",
                lambda s: _fmt(100 * s.get("median_pairwise_correlation", math.nan), ".1f") + "%")
    body += row("alphas with positive return (gross)", "all (by selection)",
                lambda s: f"{s.get('n_positive', 0)} of {s.get('n_alphas', 0)}")
    body += row("corr(R, V) across alphas", "strong", lambda s: _fmt(s.get("corr_return_volatility")))
    body += row("corr(R, T) across alphas", "not significant", lambda s: _fmt(s.get("corr_return_turnover")))
    body += row("ln R on ln V: slope (R > 0)", "strong dependence", lambda s: reg(s, 1))
    body += row("ln R on ln T: slope (R > 0)", "not significant", lambda s: reg(s, 2))
    body += row("R² of pair correlation on turnover terms", "poor explanatory power",
                lambda s: _fmt(s.get("correlation_on_turnover_r2"), ".3f"))
    return head + body
