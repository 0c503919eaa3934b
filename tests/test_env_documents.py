"""Document-conditioned episodes: the embedding table, the windows, no later document, no data outside
the reward window (synthetic news, and the real Reuters news when ../shared/data is present)."""

from __future__ import annotations

from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pytest
from env_support import hashed_one_word_at_a_time

import alpha_env.env as E
from alpha_env.ace import ACE
from alpha_env.backtest import annualized_sharpe
from alpha_env.data import MarketPanel, load_news, synthetic_market
from alpha_env.errors import DataError, SettingsError
from alpha_env.grammar import parse

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NEWS = DATA / "us_2006_2013" / "news.parquet"
PRICES = DATA / "us_2006_2013" / "prices.parquet"


@pytest.fixture(scope="module", autouse=True)
def _serial_numba():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


@pytest.fixture(scope="module")
def panel() -> MarketPanel:
    return synthetic_market(seed=0, n_stocks=30, n_days=300)


@pytest.fixture(scope="module")
def table(panel) -> E.EmbeddingTable:
    return E.embed_document_store(panel.documents, 32)


# ---------------------------------------------------------------- the embedding table
def test_table_forms_agree_and_window_mean_is_exact():
    rng = np.random.default_rng(0)
    days = np.array(["2020-01-02", "2020-01-02", "2020-01-03", "2020-01-06"], dtype="datetime64[D]")
    vec = rng.normal(size=(4, 3))
    a = E.EmbeddingTable(days, vec)
    b = E.EmbeddingTable.from_frame(pd.DataFrame(vec, index=pd.DatetimeIndex(days)))
    c = E.EmbeddingTable.from_mapping({"2020-01-02": vec[:2], "2020-01-03": vec[2], "2020-01-06": vec[3]})
    for t in (a, b, c):
        mean, count = t.window_mean(np.datetime64("2020-01-02"), np.datetime64("2020-01-06"))
        assert count == 3
        np.testing.assert_allclose(mean, vec[:3].mean(axis=0))
        assert t.window_mean(np.datetime64("2020-01-07"), np.datetime64("2020-02-01"))[1] == 0
        assert (t.low <= 0).all() and (t.high >= 0).all() and (t.low <= vec.min(0)).all()
    with pytest.raises(DataError, match="non-finite"):
        E.EmbeddingTable(days, np.where(vec > 1, np.nan, vec))
    with pytest.raises(DataError, match="dimension"):
        E.EmbeddingTable.from_mapping({"2020-01-02": [1.0, 2.0], "2020-01-03": [1.0]})
    with pytest.raises(SettingsError, match="document_embeddings"):
        E.EmbeddingTable.coerce([1, 2, 3])


def test_hashed_bag_of_words_is_deterministic_and_normalised():
    v = E.hashed_bag_of_words("Stocks fall as volatility surges; stocks fall.", 16)
    assert v.shape == (16,) and np.linalg.norm(v) == pytest.approx(1.0)
    same = E.hashed_bag_of_words("stocks FALL as volatility surges stocks fall", 16)
    np.testing.assert_array_equal(v, same)
    assert not E.hashed_bag_of_words("", 16).any()


def test_hashed_bags_of_words_equal_the_definition_bit_for_bit():
    """The batched hashing (each distinct word hashed once, counts by bincount) gives the definition's
    bits, signs of zeros included: repeated and cancelling words, texts without words, dims from 1."""
    rng = np.random.default_rng(3)
    vocabulary = ["stocks", "fall", "rise", "don't", "q3", "Profit", "LOSS", "é", "42", "x1", "a"]
    texts = ["", "...", "Stocks fall as volatility surges; stocks fall.", "rise rise fall fall"]
    texts += [" ".join(rng.choice(vocabulary, size=int(rng.integers(0, 40)))) for _ in range(200)]
    for dim in (1, 2, 7, 16, 64):
        batch = E.hashed_bags_of_words(texts, dim)
        assert batch.shape == (len(texts), dim)
        for row, text in zip(batch, texts):
            ref = hashed_one_word_at_a_time(text, dim)
            assert np.array_equal(row, ref) and np.array_equal(np.signbit(row), np.signbit(ref)), (dim, text)
            assert np.array_equal(E.hashed_bag_of_words(text, dim), ref)
    with pytest.raises(SettingsError):
        E.hashed_bags_of_words(["a"], 0)


def test_sample_window_bounds():
    rng = np.random.default_rng(0)
    split = slice(10, 100)
    draws = [E.sample_window(rng, split, doc_days=5, horizon=20, warmup=30) for _ in range(2000)]
    decisions = np.array([w.decision for w in draws])
    assert decisions.min() == 40 and decisions.max() == 79  # 10 + 30 .. 100 - 20 - 1
    assert all(w.reward_stop <= split.stop and w.doc_start >= split.start for w in draws)
    with pytest.raises(SettingsError, match="too short"):
        E.sample_window(rng, slice(0, 30), doc_days=5, horizon=20, warmup=10)


# ---------------------------------------------------------------- the environment in document mode
def test_document_observation_is_the_mean_of_earlier_texts_only(panel, table):
    env = E.AlphaStackEnv(panel, max_len=8, document_embeddings=table, doc_days=3, horizon=10, warmup=20)
    docs = panel.documents
    avail = docs.available_dates
    texts = np.array([docs.text(k) for k in range(len(docs))], dtype=object)
    seen_dates = set()
    for seed in range(60):
        obs, info = env.reset(seed=seed)
        t = np.datetime64(info["decision_date"])
        i = panel.date_index(t)
        assert panel.splits["train"].start + 20 <= i <= panel.splits["train"].stop - 11
        lo = panel.dates[i - 3]
        shown = (avail >= lo) & (avail < t)
        assert shown.sum() == info["n_documents"] > 0
        # independent check against the raw publication instants: all before the close of the day before t
        cutoff = docs.decision_instants(panel.dates[i - 1 : i])[0]
        assert (docs.published[shown] <= cutoff).all()
        expected = np.mean([E.hashed_bag_of_words(x, 32) for x in texts[shown]], axis=0)
        np.testing.assert_allclose(obs["document"], expected.astype(np.float32), rtol=1e-6, atol=1e-7)
        seen_dates.add(i)
    assert len(seen_dates) > 30  # the decision date really is drawn


def test_document_mode_is_seeded(panel, table):
    a = E.AlphaStackEnv(panel, max_len=8, document_embeddings=table)
    b = E.AlphaStackEnv(panel, max_len=8, document_embeddings=table)
    acts = [*a.codebook.encode(parse("rank(-delta(close, 5))")), a.codebook.END]
    for seed in (0, 1, 2):
        oa, ia = a.reset(seed=seed)
        ob, ib = b.reset(seed=seed)
        np.testing.assert_array_equal(oa["document"], ob["document"])
        assert ia["decision_date"] == ib["decision_date"]
        ra = [a.step(x)[1] for x in acts]
        rb = [b.step(x)[1] for x in acts]
        assert ra == rb
    dates = {a.reset(seed=s)[1]["decision_date"] for s in range(20)}
    assert len(dates) > 5


def test_reward_is_sharpe_of_the_h_days_after_t(panel, table):
    env = E.AlphaStackEnv(panel, max_len=8, document_embeddings=table, horizon=15, warmup=30)
    ace = ACE(panel)
    text = "rank(-delta(close, 5))"
    acts = [*env.codebook.encode(parse(text)), env.codebook.END]
    pnl = ace.simulate(text).pnl
    for seed in range(10):
        _, info = env.reset(seed=seed)
        i = panel.date_index(info["decision_date"])
        for a in acts:
            _, reward, term, _, end = env.step(a)
        assert term and end["reason"] == "complete"
        assert reward == pytest.approx(annualized_sharpe(pnl[i + 1 : i + 16]), abs=1e-12)
        assert end["metrics"]["days"] == 15
        assert end["reward_window"] == (str(panel.dates[i + 1]), str(panel.dates[i + 15]))


def test_reward_ignores_every_day_after_the_window(panel, table):
    """Scrambling every price after t + H changes nothing in the episode's reward."""
    date = panel.dates[120]
    h = 10
    stop = 121 + h
    rng = np.random.default_rng(1)
    noise = np.exp(rng.normal(0, 0.3, size=panel.shape))
    noise[:stop] = 1.0
    fields = {name: panel.field(name) * noise for name in ("open", "high", "low", "close", "vwap")}
    fields["volume"] = panel.field("volume")
    groups = {g: (panel.group(g), panel.group_labels(g)) for g in panel.group_names if g != "market"}
    other = MarketPanel(panel.dates, panel.tickers, fields, groups=groups, universe=panel.universe,
                        splits=dict(panel.splits))
    env_a = E.AlphaStackEnv(panel, max_len=10, document_embeddings=table, horizon=h)
    env_b = E.AlphaStackEnv(other, max_len=10, document_embeddings=table, horizon=h)
    agent = E.MaskedRandomAgent(4)
    complete = 0
    for ep in range(40):
        ra, _, info = E.play_episode(env_a, agent, seed=ep, options={"decision_date": date})
        env_b.reset(seed=ep, options={"decision_date": date})
        for a in [*env_a.written, env_a.codebook.END]:
            _, rb, *_ = env_b.step(a)
        assert ra == rb, info["expression"]
        complete += info["reason"] == "complete"
    assert complete >= 5
    with pytest.raises(SettingsError, match="outside the allowed range"):
        env_a.reset(options={"decision_date": panel.dates[-1]})


def test_document_settings_errors(panel, table):
    with pytest.raises(SettingsError, match="too short"):
        E.AlphaStackEnv(panel, document_embeddings=table, horizon=170)
    with pytest.raises(SettingsError, match="document_dim"):
        E.AlphaStackEnv(panel, document_embeddings=table, document_dim=7)


# ---------------------------------------------------------------- the real news file
@pytest.mark.real_data
def test_real_news_never_shows_a_later_document():
    if not (NEWS.exists() and PRICES.exists()):
        pytest.skip("../shared/data/us_2006_2013 is absent")
    import pyarrow.parquet as pq

    tickers = ["AAPL", "MSFT", "XOM", "GE", "JPM", "PG", "JNJ", "WMT", "IBM", "KO", "PFE", "INTC"]
    prices = pq.read_table(PRICES, filters=[("ticker", "in", tickers)]).to_pandas()
    prices = prices[(prices["date"] >= "2009-01-01") & (prices["date"] < "2010-07-01")]
    wide = {c: prices.pivot(index="date", columns="ticker", values=c) for c in
            ("open", "high", "low", "close", "volume")}
    dates = wide["close"].index.to_numpy().astype("datetime64[D]")
    news = load_news(str(NEWS), calendar=dates)
    keep = (news.published >= np.datetime64("2008-12-01")) & (news.published < np.datetime64("2010-01-01"))
    keep &= ~np.isnat(news.available_dates)
    idx = np.flatnonzero(keep)
    table = E.embed_texts(news.available_dates[idx], [news.text(int(k)) for k in idx], dim=32)
    splits = {"train": slice(0, 250), "valid": slice(250, 310), "test": slice(310, len(dates))}
    panel = MarketPanel(dates, list(wide["close"].columns), {k: v.to_numpy() for k, v in wide.items()},
                        splits=splits)

    # independent publication instants from the raw strings (the zone abbreviation gives the offset)
    raw = pd.read_parquet(NEWS, columns=["published", "title", "lead"])
    stamp = raw["published"].str.extract(r"^(.*) (E[SD]T)$")
    local = pd.to_datetime(stamp[0], format="%a %b %d, %Y %I:%M%p", errors="coerce")
    offset = pd.to_timedelta(np.where(stamp[1] == "EDT", 4, 5), unit="h")
    utc = (local + offset).to_numpy().astype("datetime64[ns]")
    key = (raw["title"].fillna("") + "\x00" + raw["lead"].fillna("")).to_numpy()
    closes = (pd.DatetimeIndex(dates.astype("datetime64[ns]") + np.timedelta64(16, "h"))
              .tz_localize("America/New_York").tz_convert("UTC").tz_localize(None).to_numpy())

    env = E.AlphaStackEnv(panel, max_len=8, document_embeddings=table, doc_days=3, horizon=10, warmup=20)
    avail = news.available_dates[idx]
    docs = [news.document(int(k)) for k in idx]
    checked = 0
    for seed in range(40):
        obs, info = env.reset(seed=seed)
        t = np.datetime64(info["decision_date"])
        i = panel.date_index(t)
        shown = np.flatnonzero((avail >= panel.dates[i - 3]) & (avail < t))
        assert len(shown) == info["n_documents"] > 0
        # the texts shown are exactly those published after the close of day i-4 and at or before the
        # close of day i-1 (the last close before t), by the raw time stamps
        expected_keys = sorted(key[(utc > closes[i - 4]) & (utc <= closes[i - 1])])
        assert sorted(f"{docs[k].title}\x00{docs[k].body}" for k in shown) == expected_keys
        assert closes[i - 1] < t.astype("datetime64[ns]")
        expected = np.mean([E.hashed_bag_of_words(news.text(int(idx[k])), 32) for k in shown], axis=0)
        np.testing.assert_allclose(obs["document"], expected.astype(np.float32), rtol=1e-5, atol=1e-6)
        checked += len(shown)
    assert checked > 500


# ---------------------------------------------------------------- AlphaStackNews-v0's document encoder
NEWS_DATA = {"seed": 0, "n_stocks": 10, "n_days": 200}


def test_news_env_hashed_fallback_says_so():
    import gymnasium as gym

    env = gym.make(E.ALPHA_STACK_NEWS_ID, data=NEWS_DATA, doc_encoder="hashed", max_len=8)
    obs, info = env.reset(seed=0)
    assert info["doc_encoder"] == "hashed-bow-64" and obs["document"].shape == (64,)
    action = int(np.flatnonzero(info["action_mask"])[0])
    assert env.step(action)[-1]["doc_encoder"] == "hashed-bow-64"


def test_news_env_with_a_named_encoder_folder_is_cached_on_disk(tmp_path):
    pytest.importorskip("torch")
    import gymnasium as gym
    from encoders_support import save_tiny_bert

    folder = save_tiny_bert(tmp_path / "tiny")
    make = lambda: gym.make(E.ALPHA_STACK_NEWS_ID, data=NEWS_DATA, doc_encoder=str(folder),  # noqa: E731
                            doc_cache_dir=tmp_path / "cache", max_len=8)
    env = make()
    obs, info = env.reset(seed=0)
    assert info["doc_encoder"].startswith(f"{folder}@") and obs["document"].shape == (32,)
    assert (tmp_path / "cache" / "embeddings.sqlite").is_file()
    again = make()  # served from the cache: the same vectors
    np.testing.assert_array_equal(again.unwrapped.documents.vectors, env.unwrapped.documents.vectors)


def test_news_env_bad_encoder_names_are_clear(tmp_path):
    pytest.importorskip("torch")
    import gymnasium as gym

    from encoders import ModelNotAvailableError

    with pytest.raises(ModelNotAvailableError, match="no-such-model"):
        gym.make(E.ALPHA_STACK_NEWS_ID, data=NEWS_DATA, doc_encoder="no-such-model",
                 doc_cache_dir=tmp_path, max_len=8)


def test_news_env_without_torch_falls_back_to_hashed(tmp_path):
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "transformers"):
                    raise ModuleNotFoundError(name)
        sys.meta_path.insert(0, Block())
        import gymnasium as gym, alpha_env.env as E
        env = gym.make(E.ALPHA_STACK_NEWS_ID, data={NEWS_DATA!r}, max_len=8)
        print("DOC", env.reset(seed=0)[1]["doc_encoder"], "torch" in sys.modules)
        try:
            gym.make(E.ALPHA_STACK_NEWS_ID, data={NEWS_DATA!r}, doc_encoder="ProsusAI/finbert")
        except Exception as exc:
            print("ERR", type(exc).__name__, exc)
    """)
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path, env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "DOC hashed-bow-64 False" in proc.stdout
    assert "ERR SettingsError doc_encoder='ProsusAI/finbert' needs the optional 'rl' extra" in proc.stdout


@pytest.mark.slow
def test_news_env_default_is_the_bundled_minilm(tmp_path):
    pytest.importorskip("torch")
    import gymnasium as gym

    env = gym.make(E.ALPHA_STACK_NEWS_ID, data=NEWS_DATA, doc_cache_dir=tmp_path, max_len=8)
    obs, info = env.reset(seed=0)
    assert "all-MiniLM-L6-v2@" in info["doc_encoder"] and obs["document"].shape == (384,)


# ---------------------------------------------------------------- per-stock news fields
def _hashed(texts):
    return np.vstack([E.hashed_bag_of_words(t, 16) for t in texts])


def _store_with(panel, extra_published=None, ticker=None):
    from alpha_env.data.documents import DocumentStore

    base = panel.documents.frame()
    published = list(base["published"])
    titles, tickers = list(base["title"]), list(base["tickers"])
    if extra_published is not None:
        published.append(pd.Timestamp(extra_published).tz_convert("UTC"))
        titles.append("Profit warning shocks investors")
        tickers.append(ticker)
    bodies = list(base["body"]) + [""] * (len(titles) - len(base))
    return DocumentStore(pd.to_datetime(published, utc=True), titles, bodies, tickers, calendar=panel.dates)


def _polarity(texts):
    return np.array([np.tanh(len(t) / 50.0) - 0.5 for t in texts])


@pytest.mark.parametrize("day, clock", [(120, "09:30"), (120, "15:59"), (120, "16:00"), (121, "21:45"),
                                        (200, "03:00")])
def test_a_document_published_on_day_t_never_changes_fields_at_days_up_to_t(panel, day, clock):
    from alpha_env.data.daily_fields import stock_news_fields

    ticker = str(panel.tickers[3])
    local = pd.Timestamp(f"{pd.Timestamp(panel.dates[day]).date()} {clock}", tz="America/New_York")
    options = {"embed": _hashed, "k": 3, "seed": 7, "sentiment": _polarity}
    before = stock_news_fields(_store_with(panel), panel.tickers, panel.dates, **options)
    after = stock_news_fields(_store_with(panel, local, ticker), panel.tickers, panel.dates, **options)
    assert set(before) == {"news_count", "news_sentiment", "news_emb_0", "news_emb_1", "news_emb_2"}
    for name in before:
        np.testing.assert_array_equal(before[name][: day + 1], after[name][: day + 1], err_msg=name)
    assert after["news_count"][day + 1, 3] == before["news_count"][day + 1, 3] + 1  # counted the next day
    assert not np.array_equal(before["news_emb_0"][day + 1], after["news_emb_0"][day + 1])


def test_stock_news_fields_are_means_over_citing_texts_and_seeded(panel):
    from alpha_env.data.daily_fields import news_field_rows, stock_news_fields

    store = _store_with(panel)
    fields = stock_news_fields(store, panel.tickers, panel.dates, embed=_hashed, k=2, seed=1)
    again = stock_news_fields(store, panel.tickers, panel.dates, embed=_hashed, k=2, seed=1)
    other = stock_news_fields(store, panel.tickers, panel.dates, embed=_hashed, k=2, seed=2)
    np.testing.assert_array_equal(fields["news_emb_1"], again["news_emb_1"])
    assert not np.array_equal(fields["news_emb_1"], other["news_emb_1"])
    rows = news_field_rows(store, panel.dates)
    t, j = map(int, np.argwhere(fields["news_count"] > 0)[0])
    cited = [d for d in range(len(store))
             if rows[d] == t and str(panel.tickers[j]) in store.document(d).tickers]
    assert len(cited) == fields["news_count"][t, j]
    projection = np.random.default_rng(1).standard_normal((16, 2)) / 4.0
    expected = (_hashed([store.text(d) for d in cited]) @ projection).mean(axis=0)
    np.testing.assert_allclose([fields["news_emb_0"][t, j], fields["news_emb_1"][t, j]], expected)
    assert (fields["news_emb_0"][fields["news_count"] == 0] == 0).all()
    with pytest.raises(SettingsError, match="explicit seed"):
        stock_news_fields(store, panel.tickers, panel.dates, embed=_hashed, k=2)


def test_news_env_with_stock_news_fields_extends_the_codebook():
    import gymnasium as gym

    env = gym.make(E.ALPHA_STACK_NEWS_ID, data=NEWS_DATA, doc_encoder="hashed", stock_news_fields=2,
                   stock_news_seed=0, max_len=8)
    base = env.unwrapped
    for name in ("news_count", "news_emb_0", "news_emb_1"):
        assert name in base.codebook and base.panel.has_field(name)
    obs, info = env.reset(seed=0)
    assert info["action_mask"][base.codebook.id("news_emb_1")]  # the agent may write the field
