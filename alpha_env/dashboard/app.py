"""The dashboard's Flask application: pages over one alpha store, read-only.

| route            | page                                                                            |
|------------------|---------------------------------------------------------------------------------|
| `/`              | the alpha table: sort, filter (dataset, settings, checks, text), paginate       |
| `/alpha/<id>`    | one alpha: expression forms, PnL and drawdown charts, splits, years, checks,    |
|                  | most correlated stored alphas, the commands that reproduce it                   |
| `/compare?ids=`  | two or more alphas: cumulative PnL on one chart, correlation matrix             |
| `/pools`         | the stored pools (empty until the store has a ``pools`` table)                  |
| `/runs`          | training runs, when the store records any (404 otherwise)                       |

Only GET routes exist: nothing on these pages can change the store. Every string from the store is
HTML-escaped by Jinja2's autoescaping; an unknown alpha id is a 404 page, a bad query argument a 400
page, a damaged store a 500 page naming the store, never a traceback.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, abort, g, render_template, request
from werkzeug.exceptions import HTTPException

from alpha_env.dashboard import charts
from alpha_env.dashboard.queries import (
    TABLE_METRICS,
    AlphaIndex,
    StoreSource,
    TableQuery,
    connect_readonly,
    correlation_matrix,
    load_pnl,
    pools,
    runs,
    similar_alphas,
    table_names,
)
from alpha_env.dashboard.tearsheet import DatasetPanels, alpha_factor_metrics
from alpha_env.errors import AlphaEnvError, ExpressionError, StoreError

__all__ = ["create_app", "DashboardState", "reproduce_commands", "expression_tree", "log_dir"]

#: Metrics of the per-split and per-year tables of the alpha page: (key, title, format).
_DETAIL_METRICS: tuple[tuple[str, str, str], ...] = (
    ("sharpe", "Sharpe", "{:.2f}"), ("annual_return", "Return", "{:.2%}"),
    ("turnover", "Turnover", "{:.1%}"), ("fitness", "Fitness", "{:.2f}"),
    ("max_drawdown", "Drawdown", "{:.2%}"), ("margin_bps", "Margin bps", "{:.2f}"),
    ("ic", "IC", "{:.4f}"), ("rank_ic", "Rank IC", "{:.4f}"), ("coverage", "Coverage", "{:.0%}"),
    ("long_count", "Long", "{:.0f}"), ("short_count", "Short", "{:.0f}"), ("days", "Days", "{:.0f}"),
)

#: Format of each :data:`TABLE_METRICS` column of the alpha table.
_TABLE_FORMATS: dict[str, str] = {"sharpe": "{:.2f}", "ic": "{:.4f}", "rank_ic": "{:.4f}",
                                  "turnover": "{:.1%}", "fitness": "{:.2f}", "max_drawdown": "{:.2%}",
                                  "annual_return": "{:.2%}"}


@dataclass
class DashboardState:
    """What the app holds for one store: where it is, its label and its alpha index (the list of them
    is ``app.extensions["alpha_dashboards"]``; the first also ``app.extensions["alpha_dashboard"]``)."""

    source: StoreSource
    index: AlphaIndex

    @property
    def path(self) -> Path | str:
        """The store file, or the PostgreSQL URL without its password."""
        return self.source.path or self.source.label


def fmt(value: Any, pattern: str = "{:.4g}") -> str:
    """``pattern.format(value)``, or ``–`` for a missing or non-finite number (a NaN stays visible)."""
    if value is None:
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "–" if not math.isfinite(number) else pattern.format(number)


def expression_tree(expression: str) -> dict[str, Any]:
    """The parsed expression as ``{"label": str, "children": [...]}`` (operators with their operands)."""
    from alpha_env.grammar import Call, parse, token_text

    def node(e) -> dict[str, Any]:
        if isinstance(e, Call):
            return {"label": e.op, "children": [node(a) for a in e.args]}
        return {"label": token_text(e), "children": []}

    return node(parse(expression))


def reproduce_commands(alpha_id: str, expression: str, settings: dict[str, Any], db: Path | str
                       ) -> list[str]:
    """Shell commands that show (``report``) and re-simulate (``simulate``) the alpha.

    ``simulate`` gets every setting that differs from the defaults; its ``--data`` must point to the
    dataset the alpha was simulated on (the store keeps the dataset id, not its location).
    """
    from alpha_env.ace.settings import SimulationSettings
    from alpha_env.options import option_names

    known = option_names(SimulationSettings)
    defaults = SimulationSettings().to_dict()
    args = ["alpha-env", "simulate", expression]
    for key, value in settings.items():
        if key not in known or defaults.get(key, object()) == value:
            continue
        option = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args.append(option if value else "--no-" + key.replace("_", "-"))
        else:
            args += [option, "none" if value is None else str(value)]
    args += ["--db", str(db)]
    return [shlex.join(["alpha-env", "report", alpha_id, "--db", str(db)]), shlex.join(args)]


def _query_from_args(index: AlphaIndex) -> TableQuery:
    """The :class:`TableQuery` of the request's arguments (400 for a bad one)."""
    a = request.args
    default_sort = "train.sharpe" if "train" in index.splits else "created_at"
    try:
        return TableQuery(
            sort=a.get("sort", default_sort), direction=a.get("dir", "desc"),
            dataset=a.get("dataset", ""), settings=a.get("settings", ""), passed=a.get("passed", ""),
            search=a.get("q", ""), page=int(a.get("page", 1)), per_page=int(a.get("per_page", 50)),
        )
    except ValueError as exc:
        abort(400, f"bad page or per_page: {exc}")
    except StoreError as exc:
        abort(400, str(exc))


def log_dir(state: DashboardState, run: str) -> str:
    """The TensorBoard log folder of ``run``, or ``""`` when the store does not lead to one.

    A store file at ``runs/RUN/alphas.db`` is in its run's folder, which is the log dir of ``RUN``; a
    sibling ``runs/OTHER`` folder is that of run ``OTHER``; a run recorded as an existing folder path is
    its own log dir.
    """
    path = state.source.path
    if path is not None:
        folder = path.resolve().parent
        if folder.parent.name == "runs":
            if not run or run == folder.name:
                return str(folder)
            if "/" not in run and (folder.parent / run).is_dir():
                return str(folder.parent / run)
    if run and "/" in run and Path(run).is_dir():
        return str(Path(run))
    return ""


def create_app(db: str | Path | list[str | Path], data: list[Any] | None = None) -> Flask:
    """The dashboard app over one or more alpha stores (paths or ``postgresql://`` URLs), each opened
    read-only and checked now. With several, every page takes ``?store=N`` (0-based; default 0).
    ``data``: datasets (paths, or anything :func:`alpha_env.data.resolve_panel` takes) for the alpha
    page's IC decay and quantile returns; loaded now.

    Raises:
        StoreError: no store there, or one that cannot be read (names it).
    """
    locations = list(db) if isinstance(db, list | tuple) else [db]
    if not locations:
        raise StoreError("no store given")
    states = []
    for location in locations:
        source = StoreSource(location)
        connect_readonly(source).close()
        states.append(DashboardState(source, AlphaIndex(source)))
    panels = DatasetPanels(list(data or []))
    app = Flask(__name__)
    app.extensions["alpha_dashboard"] = states[0]
    app.extensions["alpha_dashboards"] = states
    app.jinja_env.filters["fmt"] = fmt
    app.jinja_env.globals.update(table_formats=_TABLE_FORMATS, detail_metrics=_DETAIL_METRICS,
                                 store_labels=[s.source.label for s in states])

    def current() -> DashboardState:
        """The store the request names (``?store=N``), 400 for a bad one."""
        if "store_no" not in g:
            raw = request.args.get("store", "0")
            try:
                number = int(raw)
            except ValueError:
                number = -1
            if not 0 <= number < len(states):
                abort(400, f"bad store {raw!r}; one of 0 to {len(states) - 1}")
            g.store_no = number
        return states[g.store_no]

    @app.url_defaults
    def keep_store(endpoint: str, values: dict[str, Any]) -> None:
        if len(states) > 1 and endpoint != "static" and "store" not in values and "store_no" in g:
            values["store"] = g.store_no

    def has_runs() -> bool:
        state = current()
        frame = state.index.frame
        if (not frame.empty and bool((frame["run"] != "").any())) or log_dir(state, ""):
            return True
        con = connect_readonly(state.source)
        try:
            return "runs" in table_names(con)
        finally:
            con.close()

    @app.context_processor
    def navigation() -> dict[str, Any]:
        try:
            state = current()
        except HTTPException:
            return {"show_runs": False, "store_path": "", "store_no": 0}
        return {"show_runs": has_runs(), "store_path": state.source.label, "store_no": g.store_no}

    @app.get("/")
    def alphas():
        state = current()
        state.index.refresh()
        query = _query_from_args(state.index)
        try:
            page = state.index.page(query)
        except StoreError as exc:
            abort(400, str(exc))
        split = request.args.get("split", "valid" if "valid" in state.index.splits else
                                 (state.index.splits[0] if state.index.splits else ""))
        if split and split not in state.index.splits:
            abort(400, f"unknown split {split!r}; one of {', '.join(state.index.splits)}")
        return render_template(
            "alphas.html", page=page, query=query, split=split, splits=state.index.splits,
            metrics=TABLE_METRICS, datasets=state.index.choices("dataset_id"),
            settings_choices=state.index.choices("settings"), sort_keys=state.index.sort_keys(),
            args=request.args.to_dict(),
        )

    @app.get("/alpha/<alpha_id>")
    def alpha(alpha_id: str):
        from alpha_env.grammar import canonical, parse, stack_text, to_stack, to_tree

        state = current()
        path = state.source.label
        state.index.refresh()
        if alpha_id not in state.index.frame.index:
            abort(404, f"no alpha {alpha_id!r} in store {path}")
        with state.source.open_store() as store:
            result = store.get(alpha_id)
            submissions = store.submissions(alpha_id)
        try:
            expr = parse(result.expression)
            forms = {"canonical": canonical(expr), "stack": stack_text(to_stack(expr)),
                     "level_order": stack_text(to_tree(expr)), "tree": expression_tree(result.expression)}
        except ExpressionError as exc:  # stored by an older grammar, or written behind the store's back
            forms = {"canonical": result.expression, "stack": f"(does not parse: {exc})",
                     "level_order": "–", "tree": None}
        splits = {k: (int(a), int(b)) for k, (a, b) in result.metadata.get("splits", {}).items()}
        cost = float(result.settings.get("cost_bps", 0.0)) * 1e-4
        gross = result.pnl + cost * result.turnover
        con = connect_readonly(state.source)
        try:
            similar = similar_alphas(con, state.index, alpha_id)
        finally:
            con.close()
        factor, factor_note = alpha_factor_metrics(panels, result.expression, str(state.index.frame.at[
            alpha_id, "dataset_id"]),
                                                   result.settings)
        factor_svgs = {}
        if factor is not None:
            shown = {k: v for k, v in factor.items() if k != "all"} or {"all": factor["all"]}
            factor_svgs = {
                "ic_decay": charts.ic_decay_chart({k: v["ic_decay"] for k, v in shown.items()}),
                "quantiles": charts.quantile_chart({k: v["quantile_returns"] for k, v in shown.items()}),
            }
        return render_template(
            "alpha.html", r=result, **forms, factor=factor, factor_note=factor_note,
            factor_svgs=factor_svgs,
            pnl_svg=charts.pnl_chart(result.dates, result.pnl, gross, splits),
            drawdown_svg=charts.drawdown_chart(result.dates, result.pnl, splits),
            similar=similar, submissions=submissions, splits=splits,
            commands=reproduce_commands(alpha_id, result.expression, result.settings, state.source.label),
            row=state.index.frame.loc[alpha_id].to_dict(),
        )

    @app.get("/compare")
    def compare():
        state = current()
        path = state.source.label
        state.index.refresh()
        ids = [i for raw in request.args.getlist("ids") for i in raw.replace(",", " ").split() if i]
        ids = list(dict.fromkeys(ids))
        if len(ids) < 2:
            abort(400, "compare needs two or more alpha ids: /compare?ids=ID1,ID2")
        unknown = [i for i in ids if i not in state.index.frame.index]
        if unknown:
            abort(404, f"no alpha {unknown[0]!r} in store {path}")
        con = connect_readonly(state.source)
        try:
            pnl = load_pnl(con, ids, path)
        finally:
            con.close()
        series = [pnl[i] for i in ids]
        matrix = correlation_matrix(series)
        frame = state.index.frame
        return render_template(
            "compare.html", ids=ids, chart_svg=charts.compare_chart({i: pnl[i] for i in ids}),
            matrix=matrix.tolist(), expressions={i: frame.at[i, "expression"] for i in ids},
            rows=[frame.loc[i].to_dict() for i in ids], splits=state.index.splits,
        )

    @app.get("/pools")
    def pools_page():
        con = connect_readonly(current().source)
        try:
            rows = pools(con)
        finally:
            con.close()
        return render_template("pools.html", pools=rows)

    @app.get("/runs")
    def runs_page():
        state = current()
        path = state.source.label
        state.index.refresh()
        con = connect_readonly(state.source)
        try:
            rows = runs(con, state.index)
        finally:
            con.close()
        if not rows and log_dir(state, ""):  # a store in its run folder: one run, every alpha
            rows = [{"run": Path(log_dir(state, "")).name, "alphas": len(state.index.frame)}]
        for row in rows:
            folder = log_dir(state, str(row.get("run") or ""))
            if folder:
                row["log_dir"] = folder
        if not rows:
            abort(404, f"store {path} records no training runs")
        return render_template("runs.html", runs=rows)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return render_template("error.html", code=exc.code, title=exc.name,
                               message=exc.description), exc.code

    @app.errorhandler(AlphaEnvError)
    def store_error(exc: AlphaEnvError):
        return render_template("error.html", code=500, title="Store error", message=str(exc)), 500

    @app.errorhandler(Exception)
    def internal_error(exc: Exception):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        app.logger.exception("dashboard page failed")
        return render_template("error.html", code=500, title="Internal error",
                               message=f"{type(exc).__name__}: {exc}"), 500

    return app


