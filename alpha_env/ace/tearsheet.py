"""Factor tear sheet of an alpha: what alphalens users expect, as one multi-panel PNG and one HTML file.

Built from a :class:`~alpha_env.ace.result.SimulationResult` (stored or fresh) and, for the factor panels,
the panel it was simulated on (the signal is evaluated again there under the stored settings):

===============  ======================================================================================
panel            definition
===============  ======================================================================================
PnL              cumulative daily PnL (percent of book) before (gross) and after (net) ``cost_bps`` costs
drawdown         net cumulative PnL minus its running maximum (percent of book)
counts           stocks held long / short by holding day
yearly table     Sharpe, return, turnover, drawdown, IC per calendar year (the stored yearly metrics)
IC, rank IC      daily Pearson / Spearman IC against the ``horizon``-day forward return, 20-day means
IC decay         mean IC per split against ``h``-day forward returns, ``h`` in ``decay_horizons``
quantiles        mean forward return (bps) per signal quantile and split; spread = top - bottom bucket
signal turnover  share of the top-quantile stocks that are new each day
rank autocorr    Spearman correlation of the signal with the day before (alphalens' factor rank autocorr)
===============  ======================================================================================

The IC, decay and quantile figures come from :mod:`alpha_env.pool.factor_metrics` (targets aligned with
the backtest's ``delay``). Every chart names the dataset and the settings in the figure title and marks
the train / valid / test splits (shaded spans on time axes, one series per split otherwise); legends sit
above the axes, off the data. alphalens-reloaded is not used: it wants long pandas frames of factor and
prices and its own forward-return and quantile conventions, whereas these numbers must match the
project's own IC kernels and the backtest's delay exactly (and it would add a heavy dependency).
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from alpha_env.ace.result import SimulationResult
from alpha_env.errors import DataError
from alpha_env.pool.factor_metrics import DEFAULT_DECAY_HORIZONS, daily_ic, factor_metrics

if TYPE_CHECKING:
    from alpha_env.data.panel import MarketPanel

__all__ = ["TearSheet", "build_tearsheet", "render_png", "render_html", "write_tearsheet", "PANEL_TITLES"]

#: Titles of the panels, in drawing order (the factor panels need the market data).
PANEL_TITLES: dict[str, str] = {
    "pnl": "Cumulative PnL, gross vs net (% of book)",
    "drawdown": "Drawdown of net PnL (% of book)",
    "ic": "Daily IC and rank IC (20-day means)",
    "decay": "IC decay over horizons",
    "quantiles": "Mean forward return by signal quantile (bps)",
    "turnover": "Signal turnover and rank autocorrelation (20-day means)",
    "counts": "Long / short counts",
    "yearly": "Yearly table",
}
_FACTOR_PANELS = ("ic", "decay", "quantiles", "turnover")
_SPLIT_COLORS = {"train": "#4C72B0", "valid": "#DD8452", "test": "#55A868"}
_ROLL = 20


@dataclass
class TearSheet:
    """Every series and figure of a tear sheet (``T`` = days of the panel, splits as ``[start, stop)``).

    The factor fields (``ic`` ... ``rank_autocorr``) are ``None`` when built without market data.
    """

    alpha_id: str
    expression: str
    dataset: str
    settings: dict[str, Any]
    dates: np.ndarray
    splits: dict[str, tuple[int, int]]
    pnl: np.ndarray
    gross_pnl: np.ndarray
    turnover: np.ndarray
    yearly: dict[str, dict[str, float]]
    long_count: np.ndarray | None = None
    short_count: np.ndarray | None = None
    horizon: int = 1
    quantiles: int = 5
    ic: np.ndarray | None = None
    rank_ic: np.ndarray | None = None
    factor: dict[str, dict[str, Any]] | None = None
    signal_turnover: np.ndarray | None = None
    rank_autocorr: np.ndarray | None = None
    split_metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def has_factor(self) -> bool:
        """True when the factor panels (IC, decay, quantiles, signal turnover) are available."""
        return self.factor is not None

    @property
    def settings_line(self) -> str:
        """Dataset and settings in one line (delay, neutralization, decay, truncation, cost)."""
        s = self.settings
        return (f"data {self.dataset} | delay {s.get('delay')} | {s.get('neutralization')} neutralized | "
                f"decay {s.get('decay')} | truncation {s.get('truncation')} | cost {s.get('cost_bps')} bps"
                f" | target {self.horizon}-day forward return")

    @property
    def drawdown(self) -> np.ndarray:
        """``(T,)`` net cumulative PnL minus its running maximum (fraction of book, <= 0)."""
        cum = np.cumsum(np.nan_to_num(self.pnl))
        return cum - np.maximum.accumulate(np.maximum(cum, 0.0))


def _top_turnover(signal: np.ndarray, universe: np.ndarray, quantiles: int) -> np.ndarray:
    """Share of the top-quantile stocks of day ``t`` that were not in it on ``t-1`` (NaN when undefined)."""
    from alpha_env.ops.crosssection import rank

    ok = universe & np.isfinite(signal)
    pct = rank(np.ascontiguousarray(np.where(ok, signal, np.nan)))
    top = ok & (np.nan_to_num(pct) > 1.0 - 1.0 / quantiles)
    out = np.full(signal.shape[0], np.nan)
    n_now = top[1:].sum(axis=1)
    new = (top[1:] & ~top[:-1]).sum(axis=1)
    have = (n_now > 0) & (top[:-1].sum(axis=1) > 0)
    out[1:][have] = new[have] / n_now[have]
    return out


def build_tearsheet(
    result: SimulationResult,
    panel: MarketPanel | None = None,
    *,
    horizon: int = 1,
    quantiles: int = 5,
    decay_horizons: Iterable[int] = DEFAULT_DECAY_HORIZONS,
) -> TearSheet:
    """The :class:`TearSheet` of ``result``; with ``panel``, the alpha is simulated again on it under the
    stored settings for the factor panels and the long/short counts.

    Raises:
        DataError: ``panel`` is not the dataset the result was simulated on (names both ids).
    """
    s = dict(result.settings)
    splits = {k: (int(a), int(b)) for k, (a, b) in result.metadata.get("splits", {}).items()}
    pnl = np.asarray(result.pnl, dtype=np.float64)
    turnover = np.asarray(result.turnover, dtype=np.float64)
    cost = float(s.get("cost_bps") or 0.0) * 1e-4 * turnover
    sheet = TearSheet(
        alpha_id=result.alpha_id, expression=result.expression, dataset=str(result.dataset_id)[:8],
        settings=s, dates=np.asarray(result.dates, dtype="datetime64[D]"), splits=splits, pnl=pnl,
        gross_pnl=pnl + np.nan_to_num(cost), turnover=turnover, yearly=dict(result.yearly),
        horizon=int(horizon), quantiles=int(quantiles), split_metrics=dict(result.metrics),
    )
    bt = result.backtest
    if panel is None:
        if bt is not None:
            sheet.long_count, sheet.short_count = bt.long_count, bt.short_count
            sheet.gross_pnl = np.asarray(bt.gross_pnl, dtype=np.float64)
        return sheet
    if result.dataset_id and panel.dataset_id != result.dataset_id:
        raise DataError(f"alpha {result.alpha_id} was simulated on dataset {result.dataset_id[:8]}, the "
                        f"data given is dataset {panel.dataset_id[:8]} ({panel.metadata.get('name')})")
    from alpha_env.ace.simulate import ACE, simulation_universe

    ace = ACE(panel, settings=s, rank_ic=False)
    score = ace.score(result.expression, None)
    bt = score.backtest
    sheet.dataset = f"{panel.metadata.get('name') or 'panel'} ({panel.dataset_id[:8]})"
    sheet.long_count, sheet.short_count = bt.long_count, bt.short_count
    sheet.gross_pnl = np.asarray(bt.gross_pnl, dtype=np.float64)
    x = np.asarray(score.signal, dtype=np.float64)
    uni = simulation_universe(panel, ace.settings)
    close = np.asarray(panel.field("close"))
    delay = int(s.get("delay", 1))
    from alpha_env.pool.targets import forward_returns

    y = forward_returns(close, horizon=horizon, delay=delay)
    sheet.ic = daily_ic(x, y, uni)
    sheet.rank_ic = daily_ic(x, y, uni, ranked=True)
    sheet.factor = factor_metrics(x, close, panel.splits, uni, horizon=horizon, delay=delay,
                                  quantiles=quantiles, decay_horizons=decay_horizons)
    ac = np.full(x.shape[0], np.nan)
    ac[1:] = daily_ic(x[1:], x[:-1], uni[1:] & uni[:-1], ranked=True)
    sheet.rank_autocorr = ac
    sheet.signal_turnover = _top_turnover(x, uni, quantiles)
    return sheet


# ---------------------------------------------------------------------------------------------- drawing
def _roll(x: np.ndarray, n: int = _ROLL) -> np.ndarray:
    """Trailing mean over ``n`` days of the defined values (NaN until ``n // 2`` are defined)."""
    v = np.where(np.isfinite(x), x, 0.0)
    c = np.isfinite(x).astype(float)
    sv = np.convolve(v, np.ones(n))[: x.size]
    sc = np.convolve(c, np.ones(n))[: x.size]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sc >= max(n // 2, 1), sv / sc, np.nan)


def _shade(ax: Any, sheet: TearSheet) -> None:
    d = sheet.dates
    for name, (a, b) in sheet.splits.items():
        b = min(b, d.size)
        if b > a:
            ax.axvspan(d[a], d[b - 1], color=_SPLIT_COLORS.get(name, "#999999"), alpha=0.10, label=name)


def _legend(ax: Any) -> None:
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=5, fontsize=7, frameon=False,
              borderaxespad=0.2)


def _title(ax: Any, key: str) -> None:
    ax.set_title(PANEL_TITLES[key], loc="left", fontsize=9, pad=16)


def _draw(fig: Any, sheet: TearSheet) -> None:
    keys = ["pnl", "drawdown", *(_FACTOR_PANELS if sheet.has_factor else ()), "counts", "yearly"]
    rows = (len(keys) + 1) // 2
    d = sheet.dates
    for i, key in enumerate(keys):
        ax = fig.add_subplot(rows, 2, i + 1)
        _title(ax, key)
        if key == "pnl":
            _shade(ax, sheet)
            ax.plot(d, 100 * np.cumsum(np.nan_to_num(sheet.gross_pnl)), color="grey", lw=1, label="gross")
            ax.plot(d, 100 * np.cumsum(np.nan_to_num(sheet.pnl)), color="black", lw=1.2, label="net")
            _legend(ax)
        elif key == "drawdown":
            _shade(ax, sheet)
            ax.fill_between(d, 100 * sheet.drawdown, 0.0, color="#C44E52", alpha=0.6, label="drawdown")
            _legend(ax)
        elif key == "ic":
            _shade(ax, sheet)
            a = sheet.factor["all"]
            ax.plot(d, _roll(sheet.ic), color="black", lw=1,
                    label=f"IC {a['ic']:.4f} (ICIR {a['icir']:.2f})")
            ax.plot(d, _roll(sheet.rank_ic), color="#8172B2", lw=1,
                    label=f"rank IC {a['rank_ic']:.4f} (ICIR {a['rank_icir']:.2f})")
            ax.axhline(0.0, color="grey", lw=0.6)
            _legend(ax)
        elif key == "decay":
            for name, m in sheet.factor.items():
                hs = sorted(m["ic_decay"])
                ax.plot(hs, [m["ic_decay"][h] for h in hs], marker="o", ms=3, lw=1,
                        color=_SPLIT_COLORS.get(name, "black"), label=name)
            ax.axhline(0.0, color="grey", lw=0.6)
            ax.set_xlabel("horizon (days)", fontsize=8)
            _legend(ax)
        elif key == "quantiles":
            names = list(sheet.factor)
            w = 0.8 / len(names)
            for k, name in enumerate(names):
                qr = 1e4 * np.asarray(sheet.factor[name]["quantile_returns"])
                ax.bar(np.arange(1, qr.size + 1) + (k - (len(names) - 1) / 2) * w, qr, width=w,
                       color=_SPLIT_COLORS.get(name, "black"),
                       label=f"{name} spread {1e4 * sheet.factor[name]['quantile_spread']:.1f}")
            ax.axhline(0.0, color="grey", lw=0.6)
            ax.set_xlabel("quantile (1 = lowest signal)", fontsize=8)
            _legend(ax)
        elif key == "turnover":
            _shade(ax, sheet)
            ax.plot(d, _roll(sheet.signal_turnover), color="black", lw=1, label="top-quantile turnover")
            ax.plot(d, _roll(sheet.rank_autocorr), color="#64B5CD", lw=1, label="rank autocorr")
            _legend(ax)
        elif key == "counts":
            _shade(ax, sheet)
            if sheet.long_count is not None:
                ax.plot(d, sheet.long_count, color="#55A868", lw=0.8, label="long")
                ax.plot(d, sheet.short_count, color="#C44E52", lw=0.8, label="short")
            else:
                ax.text(0.5, 0.5, "per-day counts need --data", ha="center", transform=ax.transAxes)
            _legend(ax)
        elif key == "yearly":
            ax.axis("off")
            cols = ("sharpe", "annual_return", "turnover", "max_drawdown", "ic")
            cells = [[y, *(_cell(m.get(c)) for c in cols)] for y, m in sheet.yearly.items()]
            if cells:
                t = ax.table(cellText=cells, colLabels=["year", *cols], loc="upper center", fontsize=7)
                t.auto_set_font_size(False)
                t.set_fontsize(7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    title = sheet.expression if len(sheet.expression) <= 110 else sheet.expression[:107] + "..."
    fig.suptitle(f"{sheet.alpha_id}: {title}\n{sheet.settings_line}", fontsize=9)


def _cell(v: Any) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.3g}"


def render_png(sheet: TearSheet, path: str | os.PathLike[str] | io.BytesIO, *, dpi: int = 80) -> Any:
    """Draw the panels (two columns) and write a PNG of ``14 x (4 · rows)`` inches at ``dpi``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = 4 + (len(_FACTOR_PANELS) if sheet.has_factor else 0)
    fig = Figure(figsize=(14, 4 * ((n + 1) // 2)))
    FigureCanvasAgg(fig)
    _draw(fig, sheet)
    fig.subplots_adjust(left=0.06, right=0.98, top=1 - 1.4 / fig.get_figheight(), bottom=0.05,
                        hspace=0.55, wspace=0.18)
    if not isinstance(path, io.BytesIO):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    return path


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(sheet: TearSheet, path: str | os.PathLike[str]) -> Path:
    """Write one self-contained HTML file: the panels as an inline PNG and the figures as tables."""
    buf = io.BytesIO()
    render_png(sheet, buf)
    img = base64.b64encode(buf.getvalue()).decode("ascii")
    parts = [f"<h1>{html.escape(sheet.alpha_id)}</h1><p><code>{html.escape(sheet.expression)}</code></p>",
             f"<p>{html.escape(sheet.settings_line)}</p>",
             "<p>Panels: " + "; ".join(html.escape(PANEL_TITLES[k]) for k in PANEL_TITLES
                                       if sheet.has_factor or k not in _FACTOR_PANELS) + "</p>",
             f'<img alt="tear sheet" src="data:image/png;base64,{img}" style="max-width:100%">']
    keys = ("sharpe", "annual_return", "turnover", "max_drawdown", "ic", "rank_ic")
    parts.append("<h2>Metrics per split</h2>" + _html_table(
        ["split", *keys], [[k, *(_cell(m.get(c)) for c in keys)] for k, m in sheet.split_metrics.items()]))
    if sheet.factor is not None:
        fk = ("ic", "icir", "rank_ic", "rank_icir", "quantile_spread")
        parts.append("<h2>IC, ICIR and quantile spread (fraction)</h2>" + _html_table(
            ["split", *fk], [[k, *(_cell(m[c]) for c in fk)] for k, m in sheet.factor.items()]))
        parts.append(f"<h2>{html.escape(PANEL_TITLES['quantiles'])}</h2>" + _html_table(
            ["split", *(f"Q{q + 1}" for q in range(sheet.quantiles))],
            [[k, *(_cell(1e4 * v) for v in m["quantile_returns"])] for k, m in sheet.factor.items()]))
    parts.append("<h2>Yearly table</h2>" + _html_table(
        ["year", *keys], [[y, *(_cell(m.get(c)) for c in keys)] for y, m in sheet.yearly.items()]))
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}")
    doc = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>tear sheet {html.escape(sheet.alpha_id)}"
           f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    return out


def write_tearsheet(sheet: TearSheet, path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``PATH.png`` and ``PATH.html`` (``path``'s suffix replaced); returns both paths."""
    base = Path(path)
    base = base.with_suffix("") if base.suffix.lower() in (".png", ".html", ".htm") else base
    png = render_png(sheet, base.with_name(base.name + ".png"))
    page = render_html(sheet, base.with_name(base.name + ".html"))
    return png, page
