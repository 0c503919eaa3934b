"""The study's report: ``results.md``, the charts and the JSON encoding (round 2: pools).

* :func:`render_markdown` — ``results.md`` from the document :func:`alpha_env.search.study.run_study`
  returns: settings, the target check, per dataset one table of pool figures and one of best-single
  figures (mean ± sd over seeds), the alpha families, per-run details, the anchors' published figures;
* :func:`draw_charts` — per dataset: cumulative test PnL (net) of each method's pool, pool objective vs
  evaluations (learning curves), alpha families (operators of the pool members); matplotlib, imported
  only when called;
* :func:`json_default` — the ``default=`` of :func:`json.dumps` for numpy scalars/arrays and paths.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from alpha_env.search.paper_stats import paper_markdown
from alpha_env.search.study_setup import ALL_METHODS

__all__ = ["ANCHORS", "anchors_markdown", "draw_charts", "json_default", "render_markdown"]

ANCHORS: tuple[dict[str, Any], ...] = (
    {
        "paper": "AlphaGen (Yu et al., KDD 2023)",
        "markets": "CSI300, CSI500 (China A-shares)",
        "test": "2020-2021 (train 2009-2018, valid 2019)",
        "target": "20-day forward return",
        "costs": "none (IC and rank IC of the pool's combined factor)",
        "figures": "IC, rank IC",
        "values": None,
    },
)
"""The anchors' settings; ``values`` holds the published figures once quoted from the paper (``None``:
not recorded in this repository, so none is printed)."""


def _f(x: Any, spec: str = ".2f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def _mean_sd(values: list[float], spec: str = ".2f") -> str:
    v = [x for x in values if x is not None and math.isfinite(x)]
    if not v:
        return "n/a"
    if len(v) == 1:
        return format(v[0], spec)
    return f"{format(float(np.mean(v)), spec)} ± {format(float(np.std(v, ddof=1)), spec)}"


_FIGURES: tuple[tuple[str, str, str, float], ...] = (
    ("test IC", "ic", ".4f", 1.0),
    ("test rank IC", "rank_ic", ".4f", 1.0),
    ("test ICIR", "icir", ".3f", 1.0),
    ("Sharpe gross", "sharpe_gross", ".2f", 1.0),
    ("Sharpe net", "sharpe_net", ".2f", 1.0),
    ("turnover %", "turnover", ".0f", 100.0),
    ("max DD %", "max_drawdown", ".1f", 100.0),
)


def _figure_table(group: list[dict[str, Any]], part: str) -> list[str]:
    cols = [c[0] for c in _FIGURES] + ["DSR", "distinct alphas", "eval/s", "wall s"]
    lines = ["| method | runs | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for method in [m for m in ALL_METHODS if any(r["method"] == m for r in group)]:
        rs = [r for r in group if r["method"] == method]
        ok = [r for r in rs if r.get(part)]
        if not ok:
            notes = "; ".join(sorted({r["note"] or "empty" for r in rs}))
            lines.append(f"| {method} | 0 | {notes} |" + " |" * (len(cols) - 1))
            continue
        cells = [
            _mean_sd([r[part]["test"][key] * scale for r in ok], spec) for _, key, spec, scale in _FIGURES
        ]
        cells += [
            _mean_sd([r[part]["dsr"] for r in ok]),
            _mean_sd([float(r["distinct"]) for r in rs], ".0f"),
            _mean_sd([r["evals_per_second"] for r in rs], ".1f"),
            _mean_sd([r["seconds"] for r in rs], ".0f"),
        ]
        flag = " (incomplete)" if any(r["incomplete"] for r in rs) else ""
        lines.append(f"| {method}{flag} | {len(ok)} | " + " | ".join(cells) + " |")
    return lines


def _target_lines(target: dict[str, Any]) -> list[str]:
    lines = [
        f"**Target: {target['status']}** — the PPO pools' test rank IC and net Sharpe at least "
        f"{target['ratio']:g}x the best baseline pool's (gp, random, alphagen, alpha101, alpha158), with a "
        f"DSR above {target['dsr_above']:g}, on every dataset.",
        "",
    ]
    for name, d in target["datasets"].items():
        lines.append(
            f"* `{name}`: best baseline rank IC {_f(d['best_baseline_rank_ic'], '.4f')}, net Sharpe "
            f"{_f(d['best_baseline_sharpe_net'])}; "
            + (
                "; ".join(
                    f"{m}: rank IC {_f(v['rank_ic'], '.4f')}, net Sharpe {_f(v['sharpe_net'])}, "
                    f"DSR {_f(v['dsr'])} → {'met' if v['met'] else 'not met'}"
                    for m, v in d["ppo"].items()
                )
                or "no PPO run"
            )
        )
    return [*lines, ""]


def anchors_markdown(doc: dict[str, Any]) -> list[str]:
    """The anchors' table: their setting, their published figures where recorded, and why ours differ."""
    ours = ", ".join(
        f"`{n}` ({d['dates'][0]}..{d['dates'][1]}, test from {d['splits']['test'][0]})"
        for n, d in doc["datasets"].items()
    )
    lines = [
        "## Anchors: published figures",
        "",
        "| paper | market | test period | target | costs | published | ours |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in ANCHORS:
        published = (
            ", ".join(f"{k} {v}" for k, v in a["values"].items()) if a["values"] else "not recorded here"
        )
        lines.append(
            f"| {a['paper']} | {a['markets']} | {a['test']} | {a['target']} | {a['costs']} | "
            f"{published} | see the pool tables |"
        )
    lines += [
        "",
        f"The settings do not match: our datasets are US equities ({ours}), 1-day forward returns, "
        "delay 1, sector neutralization and 5 bps costs in the net figures; the anchors' are Chinese "
        "A-share indices with a 20-day target and no costs. Run the study with `--data` on a Qlib CSI300 "
        "folder (and `--pool-horizon 20`) to compare in their setting.",
        "",
    ]
    return lines


def render_markdown(doc: dict[str, Any]) -> str:
    """``results.md`` (see the module docstring)."""
    a = doc["args"]
    lines = [
        "# Results: alpha pools of every method, out of sample (round 2)",
        "",
        "Generated by `" + doc["command"] + "` — do not edit by hand; see `docs/study.md` for the design.",
        "",
        f"* commit `{doc['commit']}`, Python {doc['python']}, total {doc['seconds']:.0f} s, jobs run "
        f"{doc['executor']}"
        + (
            " — **quick mode: tiny budgets on panel slices, numbers are a smoke test, not findings**"
            if a["quick"]
            else ""
        ),
        f"* seeds {a['seeds']}; budget {a['budget']} evaluations per searching run; gross = 0 bps, net = "
        f"{doc['net_cost']:g} bps",
        f"* one pool rule for every method: {', '.join(f'{k} {v}' for k, v in a['pool'].items())} (alphagen: "
        "rule alphagen); weights fit on train; best single alpha chosen on "
        f"{a['criterion']}; every figure marked *test* is out of sample",
    ]
    if a.get("max_return", 0.0) > 0 or a.get("glitch_factor", 0.0) > 0:
        rules = ([f"|daily return| > {a['max_return']:g}"] if a.get("max_return", 0.0) > 0 else []) + (
            [
                f"one-day glitches (factor > {a['glitch_factor']:g}, back within {a['glitch_band']:.0%} the "
                "next day)"
            ]
            if a.get("glitch_factor", 0.0) > 0
            else []
        )
        lines.append(
            "* return cleaning (booked returns only, signals see the raw data): "
            + " and ".join(rules)
            + " book 0"
        )
    lines.append("")
    for name, d in doc["datasets"].items():
        lines.append(
            f"* `{name}`: {d['shape'][0]} dates x {d['shape'][1]} stocks, {d['dates'][0]} .. "
            f"{d['dates'][1]}; splits "
            + ", ".join(f"{k} {v[0]}..{v[1]}" for k, v in d["splits"].items())
            + f"; fields {', '.join(d['fields'])}; {d['simulations']} simulations, {d['seconds']:.0f} s "
            "of runs"
            + (f"; {d['masked_returns']} returns masked by the cleaning" if "masked_returns" in d else "")
        )
    lines += ["", *_target_lines(doc["target"])]
    runs = doc["runs"]
    for name in doc["datasets"]:
        group = [r for r in runs if r["dataset"] == name]
        lines += [
            f"## {name}",
            "",
            "### Pools (mean ± sd over seeds, test split)",
            "",
            *_figure_table(group, "pool"),
            "",
            "### Best single alpha of each run (selected on train+valid)",
            "",
            *_figure_table(group, "single"),
            "",
        ]
        for kind, title in (
            ("pnl", "cumulative test PnL of each method's pool"),
            ("curve", "pool objective vs evaluations"),
            ("families", "operators in the pools"),
        ):
            chart = f"{kind}_{name}.png"
            if chart in doc["charts"]:
                lines += [f"![{title}, {name}](results/{chart})", ""]
        lines += [
            "### Alpha families (operators / fields of the pool members, all seeds)",
            "",
            "| method | top operators | top fields |",
            "|---|---|---|",
        ]
        for method in [m for m in ALL_METHODS if any(r["method"] == m for r in group)]:
            ops: dict[str, int] = {}
            flds: dict[str, int] = {}
            for r in group:
                if r["method"] == method:
                    for k, v in r["families"].get("operators", []):
                        ops[k] = ops.get(k, 0) + v
                    for k, v in r["families"].get("fields", []):
                        flds[k] = flds.get(k, 0) + v
            top = lambda c: ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1])[:6])  # noqa: E731
            lines.append(f"| {method} | {top(ops) or '-'} | {top(flds) or '-'} |")
        lines += [
            "",
            "<details><summary>per run</summary>",
            "",
            "| method | seed | evaluations | distinct | s | pool size | pool test rank IC | "
            "pool net Sharpe | pool DSR | best single | note |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in group:
            p, s = r.get("pool") or {}, r.get("single") or {}
            seed = "-" if r["seed"] is None else r["seed"]
            expr = s.get("expression", "").replace("|", "\\|")
            lines.append(
                f"| {r['method']} | {seed} | {r['evaluations']} | {r['distinct']} | {r['seconds']:.0f} | "
                f"{p.get('size', 0)} | {_f(p.get('test', {}).get('rank_ic'), '.4f')} | "
                f"{_f(p.get('test', {}).get('sharpe_net'))} | {_f(p.get('dsr'))} | `{expr}` | "
                f"{r['note']} |"
            )
        lines += ["", "</details>", ""]
    lines += anchors_markdown(doc)
    if doc["paper"]:
        lines += [
            "## The paper's own figures on our data",
            "",
            "The 101 alphas over each whole panel at 0 bps (definitions in "
            "`alpha_env/search/paper_stats.py`; the paper's numbers are quoted from its abstract).",
            "",
            paper_markdown(doc["paper"]),
        ]
    lines += [
        "## Column definitions",
        "",
        "* *test IC / rank IC*: mean daily Pearson / Spearman correlation of the signal with the next "
        "day's return (entered at the delay-1 close) over the test split; *ICIR*: their mean / sd (daily, "
        "not annualised).",
        "* *Sharpe gross / net*: annualized test Sharpe at 0 bps and at the net cost; *turnover*: mean "
        "daily; *max DD*: largest drawdown of the net test PnL.",
        "* *DSR*: deflated Sharpe ratio (Bailey & López de Prado 2014) of the train+valid net PnL given "
        "every distinct alpha the run tried and the variance of their Sharpe ratios.",
        "* *eval/s*: evaluations of the search per second of its wall time (the judging, which simulates "
        "every tried alpha once more, is in *wall s*).",
        "",
    ]
    return "\n".join(lines)


def draw_charts(doc: dict[str, Any], folder: Path) -> list[str]:
    """The PNG charts of every dataset in ``folder`` (see the module docstring); returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {m: plt.get_cmap("tab10")(i) for i, m in enumerate(ALL_METHODS)}
    names: list[str] = []
    for name, info in doc["datasets"].items():
        group = [r for r in doc["runs"] if r["dataset"] == name]
        dates = np.asarray(info["test_dates"], dtype="datetime64[D]")
        fig, ax = plt.subplots(figsize=(8, 4.2))
        for r in group:
            pnl = r["test_pnl"].get("pool")
            if pnl is None:
                continue
            first = r["seed"] in (
                None,
                min(
                    (x["seed"] for x in group if x["method"] == r["method"] and x["seed"] is not None),
                    default=None,
                ),
            )
            ax.plot(
                dates[: len(pnl)],
                np.cumsum(pnl),
                "-" if first else "--",
                color=colors[r["method"]],
                lw=1.2,
                label=r["method"] if first else None,
                alpha=0.9,
            )
        ax.axhline(0.0, color="grey", lw=0.6)
        ax.set_title(f"{name}: cumulative test PnL of each method's pool ({doc['net_cost']:g} bps)")
        ax.set_ylabel("cumulative PnL (fraction of book)")
        if ax.get_legend_handles_labels()[1]:
            ax.legend(loc="upper left", fontsize=8)
        fig.autofmt_xdate()
        fig.tight_layout()
        names.append(_save(fig, folder, f"pnl_{name}.png", plt))

        fig, ax = plt.subplots(figsize=(8, 4.2))
        labelled: set[str] = set()
        for r in group:
            if not r["curve"]:
                continue
            x, y = zip(*r["curve"])
            ax.step(
                x,
                y,
                where="post",
                color=colors[r["method"]],
                lw=1.1,
                label=None if r["method"] in labelled else r["method"],
            )
            labelled.add(r["method"])
        ax.set_xlabel("evaluations")
        ax.set_ylabel("pool objective (combined train IC)")
        ax.set_title(f"{name}: pool objective vs evaluations (one line per run)")
        if labelled:
            ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        names.append(_save(fig, folder, f"curve_{name}.png", plt))

        methods = [m for m in ALL_METHODS if any(r["method"] == m for r in group)]
        ops: dict[str, dict[str, int]] = {m: {} for m in methods}
        for r in group:
            for k, v in r["families"].get("operators", []):
                ops[r["method"]][k] = ops[r["method"]].get(k, 0) + v
        total: dict[str, int] = {}
        for counts in ops.values():
            for k, v in counts.items():
                total[k] = total.get(k, 0) + v
        top = [k for k, _ in sorted(total.items(), key=lambda kv: -kv[1])[:12]]
        fig, ax = plt.subplots(figsize=(9, 4.2))
        width = 0.8 / max(1, len(methods))
        for i, m in enumerate(methods):
            ax.bar(
                np.arange(len(top)) + i * width,
                [ops[m].get(k, 0) for k in top],
                width,
                color=colors[m],
                label=m,
            )
        ax.set_xticks(np.arange(len(top)) + 0.4 - width / 2, top, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("pool members using it (all seeds)")
        ax.set_title(f"{name}: operators in each method's pools")
        if methods:
            ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        names.append(_save(fig, folder, f"families_{name}.png", plt))
    return names


def _save(fig: Any, folder: Path, name: str, plt: Any) -> str:
    fig.savefig(folder / name, dpi=110)
    plt.close(fig)
    return name


def json_default(value: Any) -> Any:
    """JSON form of numpy scalars and arrays and of paths (``json.dumps(..., default=json_default)``)."""
    if isinstance(value, np.integer | np.floating):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
