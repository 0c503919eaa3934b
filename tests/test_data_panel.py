"""MarketPanel contract: shapes, dtypes, immutability, derived fields, groups, universe, splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alpha_env.data import MarketPanel, UniverseSpec, compute_universe, make_splits
from alpha_env.errors import DataError


def _panel(t: int = 50, n: int = 6, seed: int = 0, **kw) -> MarketPanel:
    rng = np.random.default_rng(seed)
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, (t, n)), axis=0))
    close[:10, 0] = np.nan  # listed late
    close[40:, 1] = np.nan  # delisted
    fields = {
        "open": close * 1.001, "high": close * 1.01, "low": close * 0.99, "close": close,
        "volume": rng.uniform(1e5, 1e6, (t, n)),
    }
    dates = pd.bdate_range("2021-01-04", periods=t).to_numpy()
    return MarketPanel(dates, [f"T{i}" for i in range(n)], fields,
                       groups={"sector": (np.array([0, 0, 1, 1, -1, 2]), ("a", "b", "c"))}, **kw)


def test_arrays_are_float64_c_contiguous_read_only():
    p = _panel()
    assert p.dates.dtype == np.dtype("datetime64[D]")
    for name in ("open", "close", "returns", "vwap", "adv20", "adv7"):
        a = p.field(name)
        assert a.shape == p.shape == (50, 6)
        assert a.dtype == np.float64 and a.flags.c_contiguous and not a.flags.writeable
        with pytest.raises(ValueError):
            a[0, 0] = 1.0
    assert not p.universe.flags.writeable and not p.group("sector").flags.writeable


def test_input_arrays_are_copied():
    close = np.full((5, 2), 10.0)
    p = MarketPanel(pd.bdate_range("2021-01-04", periods=5).to_numpy(), ["A", "B"], {"close": close})
    close[0, 0] = 99.0
    assert p.field("close")[0, 0] == 10.0


def test_panel_is_immutable():
    p = _panel()
    with pytest.raises(AttributeError):
        p.universe = None
    with pytest.raises(AttributeError):
        p.foo = 1
    with pytest.raises(TypeError):
        p.splits["x"] = slice(0, 1)
    with pytest.raises(TypeError):
        p.metadata["x"] = 1


def test_returns_definition():
    p = _panel()
    c = p.field("close")
    r = p.field("returns")
    assert np.all(np.isnan(r[0]))
    np.testing.assert_allclose(r[1:, 2], c[1:, 2] / c[:-1, 2] - 1)
    assert np.isnan(r[10, 0]) and np.isfinite(r[11, 0])  # first listed day has no return


def test_adv_any_window_and_memoised():
    p = _panel()
    dv = p.field("close") * p.field("volume")
    a = p.field("adv3")
    np.testing.assert_allclose(a[2:, 3], pd.Series(dv[:, 3]).rolling(3).mean().to_numpy()[2:])
    assert np.all(np.isnan(a[:2]))
    assert np.isnan(a[11, 0]) and np.isfinite(a[12, 0])  # needs 3 listed days
    assert p.field("adv3") is a
    assert p.has_field("adv81") and not p.has_field("adv0") and not p.has_field("advx")


def test_vwap_approximation_is_flagged():
    p = _panel()
    assert p.metadata["vwap_approximated"] is True
    np.testing.assert_allclose(p.field("vwap"), (p.field("high") + p.field("low") + p.field("close")) / 3)
    q = _panel().with_fields({"shares": np.ones((50, 6))})
    assert q.has_field("cap") and not p.has_field("cap")


def test_unknown_field_and_group_errors():
    p = _panel()
    with pytest.raises(DataError, match="unknown field 'cap'"):
        p.field("cap")
    with pytest.raises(DataError, match="unknown group 'industry'"):
        p.group("industry")
    with pytest.raises(DataError, match="shape"):
        p.with_fields({"x": np.ones((3, 3))})
    with pytest.raises(DataError, match="reserved"):
        p.with_fields({"returns": np.ones(p.shape)})


def test_groups_market_always_present():
    p = _panel()
    assert p.group_names[0] == "market"
    assert list(p.group("market")) == [0] * 6
    assert p.group("sector").dtype == np.int64
    assert p.group_labels("sector") == ("a", "b", "c")
    assert p.group("SECTOR")[4] == -1


def test_with_fields_returns_new_panel_and_changes_id():
    p = _panel()
    sig = np.arange(300, dtype=float).reshape(50, 6)
    q = p.with_fields({"news_count": sig})
    assert not p.has_field("news_count") and q.has_field("news_count")
    assert "news_count" in q.field_names
    assert q.dataset_id != p.dataset_id and _panel().dataset_id == p.dataset_id


def test_default_splits_60_20_20():
    p = _panel(t=100)
    assert p.splits == {"train": slice(0, 60), "valid": slice(60, 80), "test": slice(80, 100)}


def test_explicit_split_dates_and_errors():
    dates = pd.bdate_range("2021-01-04", periods=100).to_numpy().astype("datetime64[D]")
    s = make_splits(dates, {"valid": "2021-03-01", "test": "2021-04-01"})
    assert dates[s["valid"].start] == np.datetime64("2021-03-01") and s["train"].start == 0
    s2 = make_splits(dates, {"train": ["2021-01-04", "2021-01-29"], "test": ["2021-02-01", "2021-05-21"]})
    assert s2["train"] == slice(0, 20)
    with pytest.raises(DataError, match="overlap"):
        make_splits(dates, {"train": ["2021-01-04", "2021-03-01"], "test": ["2021-02-01", "2021-05-21"]})
    with pytest.raises(DataError, match="sum to 1"):
        make_splits(dates, {"train": 0.5, "test": 0.2})
    with pytest.raises(DataError, match="cannot parse"):
        make_splits(dates, {"test": "soon"})


def test_universe_not_listed_and_min_history():
    p = _panel()
    assert not p.universe[:, 0][:29].any() and p.universe[29, 0]  # listed day 10, 20th close on day 29
    assert not p.universe[40:, 1].any()
    assert np.isnan(p.field("close")[45, 1])  # delisted stock is NaN, not zero


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(20, 59), st.integers(1, 4))
def test_universe_has_no_look_ahead(seed, cut, top_n):
    rng = np.random.default_rng(seed)
    close = np.exp(rng.normal(3, 0.5, (60, 8)))
    volume = rng.uniform(1, 100, (60, 8))
    close[rng.random((60, 8)) < 0.1] = np.nan
    spec = UniverseSpec(min_history=3, top_n=top_n, adv_window=5)
    base = compute_universe(close, volume, spec)
    close2, volume2 = close.copy(), volume.copy()
    close2[cut:] = np.exp(rng.normal(3, 2, (60 - cut, 8)))
    volume2[cut:] = rng.uniform(1, 1e6, (60 - cut, 8))
    changed = compute_universe(close2, volume2, spec)
    np.testing.assert_array_equal(base[:cut], changed[:cut])
    assert (base.sum(axis=1) <= top_n).all()


def test_universe_top_n_picks_most_liquid():
    close = np.full((30, 4), 10.0)
    volume = np.tile(np.array([1.0, 4.0, 3.0, 2.0]), (30, 1))
    uni = compute_universe(close, volume, UniverseSpec(min_history=1, top_n=2, adv_window=20))
    assert not uni[:19].any()
    assert list(uni[25]) == [False, True, True, False]
    p = _panel().with_universe({"min_history": 1, "top_n": 2})
    assert (p.universe.sum(axis=1) <= 2).all() and p.metadata["universe"]["top_n"] == 2


def test_panel_pickles_to_an_equal_frozen_panel():
    """Vector environments send panels to worker processes: a pickle round trip keeps everything."""
    import pickle

    from alpha_env.data import synthetic_market

    panel = synthetic_market(seed=3, n_stocks=12, n_days=80)
    panel.field("adv10")  # fill the memo: it must not travel
    back = pickle.loads(pickle.dumps(panel))
    assert back.dataset_id == panel.dataset_id
    assert list(back.field_names) == list(panel.field_names)
    np.testing.assert_array_equal(back.field("close"), panel.field("close"))
    np.testing.assert_array_equal(back.field("adv10"), panel.field("adv10"))
    np.testing.assert_array_equal(back.group("sector"), panel.group("sector"))
    assert dict(back.splits) == dict(panel.splits)
    assert not back.field("close").flags.writeable
    assert (back.documents is None) == (panel.documents is None)
    with pytest.raises(AttributeError):
        back.foo = 1


# ---------------------------------------------------------------- issue 19: adv limits, bounded memo

@pytest.mark.parametrize("name", ["adv51", "adv" + "1" * 4301, "adv99999999999999999999"])
def test_adv_longer_than_the_panel_is_a_data_error_naming_the_field(name):
    p = _panel()  # 50 dates
    assert p.has_field(name)
    with pytest.raises(DataError, match=r"field 'adv.*longer than the panel \(50 dates\)"):
        p.field(name)
    assert np.isfinite(p.field("adv50")[-1]).any()


def test_adv_longer_than_the_panel_is_an_expression_error_in_the_evaluator():
    from alpha_env.errors import ExpressionError
    from alpha_env.evaluate import evaluate

    with pytest.raises(ExpressionError, match="adv51"):
        evaluate("rank(adv51)", _panel())


def test_derived_field_memo_is_bounded():
    from alpha_env.data.panel import FIELD_MEMO_ENTRIES

    p = _panel()
    first = p.field("adv2")
    assert p.field("adv2") is first
    for d in range(3, 43):
        p.field(f"adv{d}")
    held = [k for k in p._memo if isinstance(k, tuple)]
    assert len(held) == FIELD_MEMO_ENTRIES
    again = p.field("adv2")
    assert again is not first
    np.testing.assert_array_equal(again, first)
