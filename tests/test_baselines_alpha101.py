"""The 101 Formulaic Alphas library baseline: simulate all, choose in sample by the same criterion."""

from __future__ import annotations

import math

import pytest

from alpha_env.ace import ACE, SimulationSettings
from alpha_env.data import synthetic_market
from alpha_env.errors import SettingsError
from alpha_env.search.alpha101_library import Alpha101Library, selection_score


@pytest.fixture(scope="module")
def library():
    panel = synthetic_market(seed=1, n_stocks=30, n_days=260, news=False)
    lib = Alpha101Library(ACE(panel, SimulationSettings(neutralization="sector")))
    return lib, lib.simulate_all()


def test_simulates_all_and_names_what_cannot_run(library):
    _, entries = library
    assert [e.number for e in entries] == list(range(1, 102))
    failed = {e.number: e.error for e in entries if e.error}
    assert 56 in failed and "cap" in failed[56]  # Alpha#56 needs market cap, absent here
    assert sum(e.usable for e in entries) >= 90


def test_choose_is_the_best_selection_score_and_never_reads_test(library):
    lib, entries = library
    for criterion in ("train", "train+valid"):
        best = lib.choose(entries, criterion=criterion)
        scores = [selection_score(e.result, criterion=criterion) for e in entries if e.usable]
        assert selection_score(best.result, criterion=criterion) == max(scores)
        assert math.isfinite(max(scores))
    with pytest.raises(SettingsError, match="criterion"):
        lib.choose(entries, criterion="test")
    with pytest.raises(SettingsError, match="no alpha"):
        lib.choose([e for e in entries if not e.usable])


def test_train_criterion_is_the_ace_train_sharpe(library):
    _, entries = library
    e = next(x for x in entries if x.usable)
    assert selection_score(e.result, criterion="train") == pytest.approx(e.result.metrics["train"]["sharpe"])
