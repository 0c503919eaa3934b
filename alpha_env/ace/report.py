"""Reports of a simulation: rich terminal tables (metrics per split, per year, checks) and a PNG of the
cumulative PnL with the train / valid / test periods shaded.

The plot draws on a bare :class:`matplotlib.figure.Figure` with the Agg canvas, so it never touches
pyplot's global state or needs a display.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from alpha_env.ace.result import SimulationResult

__all__ = [
    "metrics_table", "yearly_table", "checks_table", "top_table", "settings_label", "print_report",
    "plot_pnl",
]

# (metric key, column title, format)
_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("sharpe", "Sharpe", "{:.2f}"),
    ("annual_return", "Return", "{:.2%}"),
    ("turnover", "Turnover", "{:.1%}"),
    ("fitness", "Fitness", "{:.2f}"),
    ("max_drawdown", "Drawdown", "{:.2%}"),
    ("margin_bps", "Margin bps", "{:.2f}"),
    ("ic", "IC", "{:.4f}"),
    ("rank_ic", "Rank IC", "{:.4f}"),
    ("coverage", "Coverage", "{:.0%}"),
    ("long_count", "Long", "{:.0f}"),
    ("short_count", "Short", "{:.0f}"),
    ("days", "Days", "{:.0f}"),
)

_SPLIT_COLORS = {"train": "#4C72B0", "valid": "#DD8452", "test": "#55A868"}


def _fmt(value: float | None, pattern: str) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return pattern.format(value)


def _table(title: str, rows: dict[str, dict[str, float]]) -> Table:
    """Metrics as rows, the keys of ``rows`` (splits or years) as columns: fits an 80-column terminal."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric", style="bold")
    for key in rows:
        table.add_column(key, justify="right")
    for k, name, f in _COLUMNS:
        table.add_row(name, *(_fmt(m.get(k), f) for m in rows.values()))
    return table


def metrics_table(result: SimulationResult) -> Table:
    """Metrics per split (columns train / valid / test / all)."""
    s = result.settings
    title = (
        f"{result.alpha_id}  {result.expression}\n"
        f"delay {s.get('delay')}  decay {s.get('decay')}  {s.get('neutralization')}  "
        f"truncation {s.get('truncation')}  cost {s.get('cost_bps')} bps  data {result.dataset_id}"
    )
    return _table(title, result.metrics)


def yearly_table(result: SimulationResult) -> Table:
    """Metrics per calendar year."""
    return _table("per year", result.yearly)


def checks_table(result: SimulationResult, checks: list | None = None) -> Table:
    """Submission checks: value, threshold, pass/fail, detail."""
    table = Table(title=f"submission checks (on {result.metadata.get('check_split', 'train')})",
                  title_justify="left")
    for col in ("check", "value", "threshold", "result", "detail"):
        table.add_column(col, justify="right" if col in ("value", "threshold") else "left")
    for c in checks if checks is not None else result.checks:
        thr = (
            f"[{c.threshold[0]:g}, {c.threshold[1]:g}]" if isinstance(c.threshold, tuple)
            else "-" if c.threshold is None else f"{c.threshold:g}"
        )
        table.add_row(c.name, _fmt(c.value, "{:.4f}"), thr,
                      "[green]PASS[/green]" if c.passed else "[red]FAIL[/red]", c.detail)
    return table


def settings_label(settings: dict | None) -> str:
    """The key settings in a few characters, e.g. ``"d1 market dc0 0bps"`` (delay, neutralization,
    decay, cost in bps), plus ``top<N>`` / ``px>=<min price>`` / ``cleaned`` when those are on."""
    s = settings or {}
    parts = [f"d{s.get('delay', '?')}", str(s.get("neutralization", "?")), f"dc{s.get('decay', '?')}",
             f"{s.get('cost_bps', 0):g}bps"]
    if s.get("top_n"):
        parts.append(f"top{s['top_n']}")
    if s.get("min_price"):
        parts.append(f"px>={s['min_price']:g}")
    if s.get("max_return") or s.get("glitch_factor"):
        parts.append("cleaned")
    return " ".join(parts)


def top_table(rows: list[dict], by: str, split: str, cost_bps: float | None = None) -> Table:
    """The ``AlphaStore.top`` listing: one row per alpha; under its expression, pool or not, the dataset id
    (first 8 hex digits), the key settings, the checks passed and the long/short counts, so the same
    expression on two datasets or with two settings gives two distinguishable rows (fits an 80-column
    terminal). With ``cost_bps``, the rows' ``at_cost`` metrics (recomputed at that cost) replace theirs.
    Every stored string is escaped (an expression with rich markup prints as text)."""
    from rich.markup import escape

    cost = "" if cost_bps is None else f" at {cost_bps:g} bps"
    table = Table(title=f"top alphas by {by} on {split}{cost}", title_justify="left")
    shown = ("sharpe", "turnover", "fitness")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("alpha id", no_wrap=True)
    if by not in shown:
        table.add_column(by, justify="right")
    for col in ("Sharpe", "Turnover", "Fitness"):
        table.add_column(col, justify="right")
    table.add_column("expression")
    for i, r in enumerate(rows, 1):
        m = dict(r.get("metrics") or {})
        if cost_bps is not None:
            at_cost = r.get("at_cost")
            m.update(at_cost if at_cost is not None else {k: None for k in ("sharpe", "fitness")})
        cells = [str(i), r["alpha_id"]]
        if by not in shown:
            cells.append(_fmt(r["value"], "{:.4g}"))
        cells += [_fmt(m.get("sharpe"), "{:.2f}"), _fmt(m.get("turnover"), "{:.1%}"),
                  _fmt(m.get("fitness"), "{:.2f}")]
        note = f"  [dim]({escape(r['degenerate_reason'])})[/dim]" if r.get("degenerate_reason") else ""
        kind = "pool  " if r.get("is_pool") else ""
        checks = r.get("checks")
        passed = "-" if checks is None else f"{checks[0]}/{checks[1]}"
        long_short = f"{_fmt(m.get('long_count'), '{:.0f}')}/{_fmt(m.get('short_count'), '{:.0f}')}"
        where = (f"[dim]{kind}data {str(r.get('dataset_id') or '-')[:8]}  "
                 f"{escape(settings_label(r.get('settings')))}  checks {passed}  L/S {long_short}[/dim]")
        table.add_row(*cells, f"{escape(r['expression'])}{note}\n{where}")
    return table


def print_report(result: SimulationResult, console: Console | None = None, *, yearly: bool = True) -> None:
    """Print the metrics table, optionally the yearly one, the checks, and the degenerate reason."""
    console = console if console is not None else Console()
    console.print(metrics_table(result))
    if yearly and result.yearly:
        console.print(yearly_table(result))
    console.print(checks_table(result))
    if result.degenerate_reason:
        console.print(f"[yellow]degenerate:[/yellow] {result.degenerate_reason}")


def plot_pnl(result: SimulationResult, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Write a PNG of the cumulative PnL (percent of book) with the splits shaded; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    dates = np.asarray(result.dates, dtype="datetime64[D]")
    cum = 100.0 * np.cumsum(result.pnl)
    fig = Figure(figsize=(10, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for name, (a, b) in result.metadata.get("splits", {}).items():
        a, b = int(a), min(int(b), len(dates))
        if b <= a:
            continue
        sharpe = result.metrics.get(name, {}).get("sharpe", float("nan"))
        ax.axvspan(dates[a], dates[b - 1], color=_SPLIT_COLORS.get(name, "#999999"), alpha=0.12,
                   label=f"{name} (Sharpe {sharpe:.2f})")
    ax.plot(dates, cum, color="black", linewidth=1.2, label="cumulative PnL")
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_ylabel("cumulative PnL, % of book")
    title = result.expression if len(result.expression) <= 90 else result.expression[:87] + "..."
    ax.set_title(f"{result.alpha_id}: {title}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
