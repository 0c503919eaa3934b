"""alpha_env.options: settings dataclasses become options once; nested settings are built and validated."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from alpha_env.ace import SimulationSettings
from alpha_env.backtest import NEUTRALIZATIONS, BacktestSettings
from alpha_env.errors import SettingsError
from alpha_env.options import build_parser, field_docs, option_fields, parse_args


@dataclass
class _Job:
    """A job."""

    seed: int = 0
    """seed of everything"""
    name: str | None = None
    """a name"""
    flag: bool = False
    """a switch"""
    simulation: SimulationSettings = field(default_factory=lambda: SimulationSettings(cost_bps=5.0))
    """the simulation"""


def test_nested_settings_are_flat_options_with_the_library_defaults():
    parser = build_parser(_Job)
    ns = parser.parse_args([])
    assert ns.delay == BacktestSettings().delay and ns.cost_bps == 5.0  # the nested default instance wins
    assert ns.top_n is None and ns.adv_window == SimulationSettings().adv_window
    help_text = parser.format_help()
    assert "--neutralization {" + ",".join(NEUTRALIZATIONS) + "}" in help_text.replace("\n", "")
    assert "transaction cost in basis points" in help_text  # from BacktestSettings' Attributes section


def test_parse_builds_nested_objects_and_validates_once():
    job = parse_args(_Job, ["--seed", "3", "--delay", "0", "--neutralization", "sector", "--top-n", "50",
                            "--name", "none", "--flag"])
    assert job.seed == 3 and job.name is None and job.flag is True
    assert isinstance(job.simulation, SimulationSettings)
    assert job.simulation.backtest == BacktestSettings(delay=0, neutralization="sector", cost_bps=5.0)
    assert job.simulation.top_n == 50
    with pytest.raises(SettingsError, match="delay must be 0 or 1"):
        parse_args(_Job, ["--delay", "2"])
    with pytest.raises(SystemExit):  # choices come from NEUTRALIZATIONS
        parse_args(_Job, ["--neutralization", "country"])


def test_a_name_declared_twice_is_a_programming_error():
    @dataclass
    class Clash:
        delay: int = 1
        simulation: SimulationSettings = field(default_factory=SimulationSettings)

    with pytest.raises(TypeError, match="--delay is declared twice"):
        option_fields(Clash)


def test_field_docs_read_both_styles():
    docs = field_docs(BacktestSettings)
    assert docs["delay"].startswith("0 or 1 days")
    assert field_docs(_Job)["seed"] == "seed of everything"


def test_simulation_settings_nest_the_backtest_and_keep_ids():
    import dataclasses

    s = SimulationSettings(delay=0, neutralization="sector", top_n=5)
    assert s.backtest == BacktestSettings(delay=0, neutralization="sector")
    assert s.delay == 0 and s.neutralization == "sector"  # flat view of the nested settings
    assert list(s.to_dict()) == ["delay", "decay", "neutralization", "truncation", "book_size", "cost_bps",
                                 "min_stocks", "min_price", "top_n", "adv_window"]
    assert SimulationSettings.from_dict(s.to_dict()) == s
    assert dataclasses.replace(s, cost_bps=5).backtest.cost_bps == 5.0
    with pytest.raises(SettingsError, match="unknown simulation setting"):
        SimulationSettings(foo=1)
