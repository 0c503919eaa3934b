"""The web dashboard (``alpha_env.dashboard``) through Flask's test client on small stores in tmp_path:
every page answers, the alpha table sorts, filters and pages on the server correctly, strings from the
store are escaped, unknown ids are 404 pages, a damaged store an error page, and the store is never
written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flask")

from dashboard_support import N_DAYS, make_result  # noqa: E402

from alpha_env.ace import AlphaStore, SimulationResult  # noqa: E402
from alpha_env.dashboard import create_app  # noqa: E402
from alpha_env.errors import StoreError  # noqa: E402


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, list[SimulationResult]]:
    """30 alphas: 20 on dataset ds-a, 10 on ds-b (delay 0); one with HTML in its expression text."""
    path = tmp_path / "store.db"
    results = [make_result(i) for i in range(20)]
    delay0 = {"delay": 0, "decay": 3, "neutralization": "sector", "cost_bps": 0.0}
    results += [make_result(i, dataset="ds-b", settings=delay0, run="run-7") for i in range(20, 30)]
    with AlphaStore(path) as s:
        for r in results:
            s.save(r)
    return path, results


def _client(path: Path):
    return create_app(path).test_client()


def _ids_in(html: str) -> list[str]:
    import re

    return re.findall(r'<tr data-alpha="([0-9a-f]+)">', html)


def test_table_page_lists_sorted_alphas(store):
    path, results = store
    page = _client(path).get("/?sort=train.sharpe&dir=desc&per_page=10")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    by_sharpe = sorted(results, key=lambda r: -r.metrics["train"]["sharpe"])
    assert _ids_in(html) == [r.alpha_id for r in by_sharpe[:10]]
    assert "30 matching" in html and "page 1 of 3" in html


def test_table_pagination_and_ascending_sort(store):
    path, results = store
    client = _client(path)
    asc = sorted(results, key=lambda r: r.metrics["valid"]["sharpe"])
    pages = [_ids_in(client.get(f"/?sort=valid.sharpe&dir=asc&per_page=7&page={p}").get_data(as_text=True))
             for p in range(1, 6)]
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    assert sum(pages, []) == [r.alpha_id for r in asc]
    assert _ids_in(client.get("/?per_page=7&page=9").get_data(as_text=True)) == []


def test_table_filters_dataset_settings_checks_and_text(store):
    path, results = store
    client = _client(path)
    html = client.get("/?dataset=ds-b&per_page=100").get_data(as_text=True)
    assert set(_ids_in(html)) == {r.alpha_id for r in results if r.dataset_id == "ds-b"}
    html = client.get("/?settings=d0+sector+dc3+0bps&per_page=100").get_data(as_text=True)
    assert set(_ids_in(html)) == {r.alpha_id for r in results if r.dataset_id == "ds-b"}
    html = client.get("/?passed=yes&per_page=100").get_data(as_text=True)
    assert set(_ids_in(html)) == {r.alpha_id for r in results if r.passed}
    html = client.get("/?passed=no&per_page=100").get_data(as_text=True)
    assert set(_ids_in(html)) == {r.alpha_id for r in results if not r.passed}
    html = client.get("/?q=CLOSE,+2&per_page=100").get_data(as_text=True)  # case-insensitive, literal
    assert set(_ids_in(html)) == {r.alpha_id for r in results if "close, 2" in r.expression}


@pytest.mark.parametrize("query", ["sort=nope", "dir=up", "page=0", "page=x", "per_page=9999",
                                   "passed=maybe", "split=nosuch"])
def test_bad_table_arguments_are_400_pages(store, query):
    page = _client(store[0]).get(f"/?{query}")
    assert page.status_code == 400
    assert "Traceback" not in page.get_data(as_text=True)


def test_alpha_page_shows_forms_charts_checks_similar_and_command(store):
    path, results = store
    r = results[3]
    page = _client(path).get(f"/alpha/{r.alpha_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "rank(ts_mean(close, 5))" in html
    assert "close 5d ts_mean rank" in html  # AlphaStack
    assert html.count("<svg") == 2 and "<path" in html  # PnL and drawdown charts with data
    assert "gross" in html and "net of costs" in html
    assert "PASS" in html and "FAIL" in html and "[0.01, 0.7]" in html
    assert "alpha-env report " + r.alpha_id in html and "alpha-env simulate" in html
    assert "--cost-bps 5.0" in html
    assert "Most correlated stored alphas" in html and html.count('href="/compare?ids=') >= 1


def test_similar_alphas_finds_a_near_copy(tmp_path):
    base = np.random.default_rng(0).normal(0, 0.01, N_DAYS)
    noise = np.random.default_rng(1).normal(0, 0.001, N_DAYS)
    rs = [make_result(0, pnl=base), make_result(1, pnl=-base + noise)]
    rs += [make_result(i) for i in range(2, 8)]
    path = tmp_path / "s.db"
    with AlphaStore(path) as s:
        for r in rs:
            s.save(r)
    from alpha_env.dashboard.queries import AlphaIndex, connect_readonly, similar_alphas

    con = connect_readonly(path)
    found = similar_alphas(con, AlphaIndex(path), rs[0].alpha_id, n=3)
    con.close()
    assert found[0]["alpha_id"] == rs[1].alpha_id and found[0]["correlation"] < -0.99
    assert len(found) == 3


def test_unknown_alpha_is_a_404_page(store):
    client = _client(store[0])
    page = client.get("/alpha/0123456789abcdef")
    assert page.status_code == 404
    assert "0123456789abcdef" in page.get_data(as_text=True)
    assert client.get("/compare?ids=0123456789abcdef," + store[1][0].alpha_id).status_code == 404
    assert client.get("/nosuchpage").status_code == 404


def test_compare_page_chart_and_matrix(store):
    path, results = store
    ids = [r.alpha_id for r in results[:3]]
    page = _client(path).get("/compare?ids=" + ",".join(ids))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<svg" in html and all(i in html for i in ids)
    assert html.count("+1.000") == 3  # the diagonal of the correlation matrix
    assert _client(path).get("/compare?ids=" + ids[0]).status_code == 400


def test_html_in_the_store_renders_as_text(tmp_path):
    path = tmp_path / "x.db"
    evil = make_result(1, dataset="<script>alert(1)</script>")
    with AlphaStore(path) as s:
        s.save(evil)
    con = sqlite3.connect(path)  # an expression text no parser would accept, written behind the store
    con.execute("UPDATE alphas SET expression = ?", ("rank(close) <b>x</b>",))
    con.commit()
    con.close()
    client = _client(path)
    for url in ("/", f"/alpha/{evil.alpha_id}"):
        page = client.get(url)
        html = page.get_data(as_text=True)
        assert page.status_code == 200, url
        assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
        assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_pools_page_before_and_after_a_stored_pool(store, tmp_path):
    """An empty pools page, then a real pool stored by the ACE (schema 2): its id, model and members."""
    from alpha_env.ace import ACE
    from alpha_env.ace.pools import build_pool, simulate_pool
    from alpha_env.data import synthetic_market
    from alpha_env.pool import PoolSettings

    path, results = store
    page = _client(path).get("/pools")
    assert page.status_code == 200 and "holds no pools" in page.get_data(as_text=True)
    ace = ACE(synthetic_market(seed=0, n_stocks=30, n_days=300))
    pool, _ = build_pool(ace, ["rank(-delta(close, 5))", "ts_rank(volume, 10)"], PoolSettings())
    result = simulate_pool(ace, pool)
    with AlphaStore(path) as s:
        s.save_pool(result)
    html = _client(path).get("/pools").get_data(as_text=True)
    assert result.alpha_id in html and "lstsq" in html
    assert "rank(-delta(close, 5))" in html and f"{pool.members[0].weight:.4g}"[:4] in html


def test_runs_page_only_when_the_store_records_runs(store, tmp_path):
    path, results = store
    client = _client(path)
    html = client.get("/runs").get_data(as_text=True)
    assert "run-7" in html and results[29].alpha_id in html  # best of the run by train Sharpe
    bare = tmp_path / "bare.db"
    with AlphaStore(bare) as s:
        s.save(make_result(1))
    client = _client(bare)
    assert client.get("/runs").status_code == 404
    assert 'href="/runs"' not in client.get("/").get_data(as_text=True)


def test_new_simulations_show_without_restart(store):
    path, _ = store
    client = _client(path)
    assert "30 matching" in client.get("/").get_data(as_text=True)
    with AlphaStore(path) as s:
        s.save(make_result(99))
    assert "31 matching" in client.get("/").get_data(as_text=True)


def test_store_is_opened_read_only_and_left_unchanged(store):
    path, results = store
    before = path.read_bytes()
    client = _client(path)
    for url in ("/", "/?q=rank", f"/alpha/{results[0].alpha_id}", "/pools", "/runs",
                f"/compare?ids={results[0].alpha_id},{results[1].alpha_id}"):
        assert client.get(url).status_code == 200, url
    assert path.read_bytes() == before
    rules = client.application.url_map.iter_rules()
    assert [r for r in rules if r.methods - {"GET", "HEAD", "OPTIONS"}] == []  # no route can write


def test_missing_foreign_and_damaged_stores(tmp_path):
    with pytest.raises(StoreError, match="no alpha store"):
        create_app(tmp_path / "none.db")
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a readable alpha-env store"):
        create_app(foreign)
    path = tmp_path / "bad.db"
    with AlphaStore(path) as s:
        s.save(make_result(1))
    app = create_app(path)
    con = sqlite3.connect(path)
    con.execute("UPDATE simulations SET metrics_json = '{not json'")
    con.execute("INSERT INTO simulations(alpha_id, created_at, code_version, run_time_s, metrics_json,"
                " yearly_json, checks_json, metadata_json) SELECT alpha_id, created_at, code_version,"
                " run_time_s, '{not json', yearly_json, checks_json, metadata_json FROM simulations")
    con.commit()
    con.close()
    page = app.test_client().get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 500 and "cannot read the simulations (simulation 1 of alpha" in html
    assert str(path) in html
    assert "Traceback" not in html


def test_serve_is_registered_and_refuses_a_missing_store(tmp_path, capsys):
    from alpha_env.cli import SUMMARIES, main

    assert "serve" in SUMMARIES
    assert main(["serve", "--db", str(tmp_path / "none.db"), "--port", "0"]) == 2
    assert "no alpha store" in capsys.readouterr().err


def test_masked_correlations_match_numpy_on_the_common_finite_days():
    from alpha_env.dashboard.queries import _masked_correlations, correlation_matrix

    rng = np.random.default_rng(3)
    x = rng.normal(size=200)
    ys = rng.normal(size=(4, 200)) + 0.5 * x
    ys[1, :50] = np.nan
    ys[2] = 1.0  # flat: correlation 0, not NaN
    corr, days = _masked_correlations(x, ys)
    assert days.tolist() == [200, 150, 200, 200]
    assert corr[0] == pytest.approx(np.corrcoef(x, ys[0])[0, 1])
    assert corr[1] == pytest.approx(np.corrcoef(x[50:], ys[1, 50:])[0, 1])
    assert corr[2] == 0.0
    dates = np.arange("2010-01-01", 200, dtype="datetime64[D]")[:200]
    m = correlation_matrix([(dates, x), (dates[10:], ys[0, 10:])])
    assert m[0, 0] == pytest.approx(1.0) and m[0, 1] == pytest.approx(np.corrcoef(x[10:], ys[0, 10:])[0, 1])


def test_damaged_checks_name_the_simulation(tmp_path):
    path = tmp_path / "bad.db"
    with AlphaStore(path) as s:
        s.save(make_result(1))
        s.save(make_result(2))
    con = sqlite3.connect(path)
    con.execute("UPDATE simulations SET checks_json = '[{' WHERE id = 2")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match=r"simulation 2 of alpha '[0-9a-f]+' \(bad checks_json\)"):
        create_app(path)


def test_serve_answers_on_a_free_local_port(store):
    import json
    import subprocess
    import sys
    import urllib.request

    path, results = store
    proc = subprocess.Popen([sys.executable, "-m", "alpha_env", "serve", "--db", str(path), "--port", "0",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["url"].startswith("http://127.0.0.1:") and info["read_only"] is True
        with urllib.request.urlopen(info["url"] + f"alpha/{results[0].alpha_id}", timeout=60) as page:
            assert page.status == 200 and results[0].expression in page.read().decode()
    finally:
        proc.terminate()
        proc.wait(30)
