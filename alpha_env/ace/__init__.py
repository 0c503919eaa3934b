"""The Alpha Creation Environment: simulate an expression, judge it, give it an id, store and report it.

Example::

    from alpha_env.ace import ACE, AlphaStore
    from alpha_env.data import synthetic_market

    with AlphaStore("alpha_env.db") as store:
        ace = ACE(synthetic_market(seed=0), store=store)
        result = ace.simulate("rank(-delta(close, 5))")
        print(result.alpha_id, result.metrics["train"]["sharpe"], result.passed)

See ``docs/ace.md``.
"""

from alpha_env.ace.checks import CheckResult, CheckThresholds, all_passed, pnl_correlation, run_checks
from alpha_env.ace.ids import alpha_id
from alpha_env.ace.report import plot_pnl, print_report
from alpha_env.ace.result import SimulationResult
from alpha_env.ace.settings import SimulationSettings
from alpha_env.ace.simulate import ACE, simulation_universe
from alpha_env.ace.store import SCHEMA_VERSION, AlphaStore, default_db_path
from alpha_env.ace.submission import recheck, submit_alpha

__all__ = [
    "ACE",
    "SimulationSettings",
    "SimulationResult",
    "AlphaStore",
    "SCHEMA_VERSION",
    "default_db_path",
    "CheckThresholds",
    "CheckResult",
    "run_checks",
    "all_passed",
    "pnl_correlation",
    "recheck",
    "submit_alpha",
    "alpha_id",
    "simulation_universe",
    "print_report",
    "plot_pnl",
]
