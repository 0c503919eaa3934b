"""Charts of the dashboard as inline SVG drawn by matplotlib (a core dependency; nothing to download,
so the pages work offline).

Each function draws on a bare :class:`matplotlib.figure.Figure` with the SVG canvas (no pyplot state)
and returns the ``<svg>`` element as text, ready to embed in a page. Text in the SVG is XML-escaped by
matplotlib, so an expression used as a label cannot inject markup.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ["pnl_chart", "drawdown_chart", "compare_chart", "ic_decay_chart", "quantile_chart",
           "SPLIT_COLORS"]

#: Shading of the train / valid / test periods (other split names are grey).
SPLIT_COLORS: dict[str, str] = {"train": "#4C72B0", "valid": "#DD8452", "test": "#55A868"}


def _figure(height: float = 3.6):
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, height))
    FigureCanvasSVG(fig)
    return fig


def _svg(fig) -> str:
    """The figure as an ``<svg>`` element (the XML prolog and doctype removed)."""
    from matplotlib import rc_context

    buf = io.StringIO()
    with rc_context({"svg.fonttype": "none"}):  # text as <text> elements, not glyph paths: 3x faster
        fig.tight_layout()
        fig.savefig(buf, format="svg")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _shade_splits(ax, dates: np.ndarray, splits: dict[str, tuple[int, int]]) -> None:
    for name, (a, b) in splits.items():
        a, b = int(a), min(int(b), len(dates))
        if name == "all" or b <= a:
            continue
        ax.axvspan(dates[a], dates[b - 1], color=SPLIT_COLORS.get(name, "#999999"), alpha=0.12,
                   label=name)


def pnl_chart(dates: np.ndarray, net: np.ndarray, gross: np.ndarray,
              splits: dict[str, tuple[int, int]]) -> str:
    """Cumulative PnL (percent of book), gross and net of costs, with the splits shaded.

    Args:
        dates: ``(T,)`` ``datetime64[D]``.
        net, gross: ``(T,)`` daily PnL, fraction of the book (NaN days add nothing).
        splits: ``{name: (start, stop)}`` date indices.
    """
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    _shade_splits(ax, dates, splits)
    ax.plot(dates, 100.0 * np.nancumsum(gross), color="#888888", linewidth=1.0, label="gross")
    ax.plot(dates, 100.0 * np.nancumsum(net), color="black", linewidth=1.2, label="net of costs")
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_ylabel("cumulative PnL, % of book")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


def drawdown_chart(dates: np.ndarray, net: np.ndarray, splits: dict[str, tuple[int, int]]) -> str:
    """Drawdown of the net cumulative PnL from its running peak (percent of book, <= 0)."""
    cum = np.nancumsum(net)
    drawdown = cum - np.maximum.accumulate(np.maximum(cum, 0.0))
    fig = _figure(2.4)
    ax = fig.add_subplot(1, 1, 1)
    _shade_splits(ax, dates, splits)
    ax.fill_between(dates, 100.0 * drawdown, 0.0, color="#C44E52", alpha=0.6, label="drawdown")
    ax.set_ylabel("drawdown, % of book")
    ax.grid(alpha=0.3)
    return _svg(fig)


def compare_chart(series: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """Cumulative net PnL (percent of book) of several alphas on one chart, one line per alpha id."""
    fig = _figure(4.2)
    ax = fig.add_subplot(1, 1, 1)
    for label, (dates, pnl) in series.items():
        ax.plot(dates, 100.0 * np.nancumsum(pnl), linewidth=1.1, label=label)
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_ylabel("cumulative net PnL, % of book")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


def ic_decay_chart(decay: dict[str, dict[int, float]]) -> str:
    """Mean daily IC against ``h``-day forward returns, one line per split (``{split: {h: ic}}``)."""
    fig = _figure(3.0)
    ax = fig.add_subplot(1, 1, 1)
    for name, curve in decay.items():
        hs = sorted(curve)
        ax.plot(hs, [curve[h] for h in hs], marker="o", markersize=3, linewidth=1.1,
                color=SPLIT_COLORS.get(name, "#999999"), label=name)
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_xlabel("horizon, trading days")
    ax.set_ylabel("mean daily IC")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


def quantile_chart(buckets: dict[str, list[float]]) -> str:
    """Mean 1-day forward return (basis points) of each signal quantile, bars grouped by split
    (``{split: [q1, ..., qn]}``, lowest quantile first; a NaN bucket draws no bar)."""
    fig = _figure(3.0)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(buckets))
    for i, (name, values) in enumerate(buckets.items()):
        x = np.arange(len(values)) + (i - (len(buckets) - 1) / 2) * width
        ax.bar(x, 1e4 * np.asarray(values, dtype=float), width=width,
               color=SPLIT_COLORS.get(name, "#999999"), label=name)
    n = max((len(v) for v in buckets.values()), default=0)
    ax.set_xticks(np.arange(n), [f"Q{q + 1}" for q in range(n)])
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_ylabel("mean forward return, bps")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return _svg(fig)
