"""Torch-free alpha search: genetic programming, masked random search, selection, the 101-alpha library.

* :mod:`alpha_env.search.genetic` — strongly typed genetic programming over the grammar;
* :mod:`alpha_env.search.random_search` — the masked random-search baseline and its :class:`SearchHistory`;
* :mod:`alpha_env.search.selection` — train+valid selection, costs, de-correlated top k, deflated Sharpe;
* :mod:`alpha_env.search.alpha101_library` — the 101 Formulaic Alphas as a searchable library;
* :mod:`alpha_env.search.tracking` — the alphas a search found: window rates, best alphas, split metrics;
* :mod:`alpha_env.search.study` — the real-data study: settings, trial book, jobs, executors (methods in
  ``study_methods``, judging in ``study_judge``);
* :mod:`alpha_env.search.study_report` — the study's ``results.md`` and charts;
* :mod:`alpha_env.search.paper_stats` — the statistics of "101 Formulaic Alphas" recomputed on our data.

Names are imported lazily on first use (``from alpha_env.search import genetic_search``), the random search
eagerly (numpy and gymnasium only); nothing in this package imports torch. The PPO agents that need
torch live in the ``agents`` package (``rl`` extra). See ``docs/study.md``.
"""

from __future__ import annotations

from alpha_env.lazy import lazy_exports

# imported eagerly (numpy and gymnasium only): the function ``random_search`` shares its module's name,
# and a lazy name would be shadowed by the submodule once anything imports alpha_env.search.random_search
from alpha_env.search.random_search import SearchHistory as SearchHistory
from alpha_env.search.random_search import episode_record as episode_record
from alpha_env.search.random_search import random_search as random_search

# submodule -> the public names it defines (one place, read by __getattr__ and __dir__)
_names, __getattr__, __dir__ = lazy_exports(__name__, {
    "genetic": (
        "DEFAULT_EXCLUDED_OPERATORS", "GPResult", "GPSettings", "GenerationStats", "Primitives",
        "TypedTreeFactory", "Variation", "ace_fitness", "genetic_search", "pool_fitness",
    ),
    "selection": (
        "EULER_GAMMA", "at_cost", "deflated_sharpe_from_pnl", "deflated_sharpe_ratio", "expected_max_sharpe",
        "greedy_decorrelated", "mean_pairwise_correlation", "normal_cdf", "normal_ppf",
        "probabilistic_sharpe_ratio", "return_moments", "selection_window", "window_metrics_at_cost",
    ),
    "alpha101_library": ("Alpha101Library", "CRITERIA", "LibraryEntry", "selection_score"),
    "tracking": ("AlphaRecord", "AlphaTracker", "WindowStats"),
    "study": (
        "StudyJob", "StudyOutcome", "StudySettings", "Trial", "TrialBook", "alpha101_paper_statistics",
        "apply_quick", "load_dataset", "run_study",
    ),
    "study_report": ("draw_charts", "render_markdown"),
    "paper_stats": ("PAPER", "paper_markdown", "paper_statistics"),
})

__all__ = sorted([*_names, "SearchHistory", "episode_record", "random_search"])
