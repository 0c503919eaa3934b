"""The dashboard over several stores (``?store=N``), over a PostgreSQL store (through the store's
backend, read-only session; skipped where PostgreSQL is absent), and the runs page's log-dir link."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("flask")

from dashboard_support import make_result  # noqa: E402

from alpha_env.ace import AlphaStore  # noqa: E402
from alpha_env.dashboard import create_app  # noqa: E402
from tests.pg_support import pg_server  # noqa: E402,F401


def _ids_in(html: str) -> list[str]:
    return re.findall(r'<tr data-alpha="([0-9a-f]+)">', html)


def _fill(location: str | Path, results) -> None:
    with AlphaStore(location) as s:
        for r in results:
            s.save(r)


def test_two_stores_with_a_selector(tmp_path):
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    ra, rb = [make_result(i) for i in range(3)], [make_result(i) for i in range(10, 15)]
    _fill(a, ra)
    _fill(b, rb)
    client = create_app([a, b]).test_client()
    first = client.get("/").get_data(as_text=True)
    assert sorted(_ids_in(first)) == sorted(r.alpha_id for r in ra)
    assert 'name="store"' in first and str(b) in first
    second = client.get("/?store=1").get_data(as_text=True)
    assert sorted(_ids_in(second)) == sorted(r.alpha_id for r in rb)
    assert f"/alpha/{rb[0].alpha_id}?store=1" in second  # links keep the store
    assert client.get(f"/alpha/{rb[0].alpha_id}?store=1").status_code == 200
    assert client.get(f"/alpha/{rb[0].alpha_id}?store=0").status_code == 404
    assert client.get("/?store=2").status_code == 400
    assert client.get("/?store=x").status_code == 400


def test_runs_page_links_the_run_folder(tmp_path):
    folder = tmp_path / "runs" / "exp1"
    folder.mkdir(parents=True)
    _fill(folder / "alphas.db", [make_result(i) for i in range(3)])
    html = create_app(folder / "alphas.db").test_client().get("/runs").get_data(as_text=True)
    assert f"tensorboard --logdir {folder}" in html


def test_postgres_store_pages(pg_server):  # noqa: F811
    url = pg_server.new_database()
    results = [make_result(i) for i in range(12)] + [make_result(20, run="run-7")]
    _fill(url, results)
    client = create_app(url).test_client()
    page = client.get("/?sort=train.sharpe&dir=desc&per_page=5")
    assert page.status_code == 200, page.get_data(as_text=True)
    by_sharpe = sorted(results, key=lambda r: -r.metrics["train"]["sharpe"])
    assert _ids_in(page.get_data(as_text=True)) == [r.alpha_id for r in by_sharpe[:5]]
    alpha = client.get(f"/alpha/{results[0].alpha_id}")
    assert alpha.status_code == 200 and "<svg" in alpha.get_data(as_text=True)
    ids = ",".join(r.alpha_id for r in results[:3])
    assert client.get(f"/compare?ids={ids}").status_code == 200
    assert client.get("/pools").status_code == 200
    runs = client.get("/runs").get_data(as_text=True)
    assert "run-7" in runs
    # new simulations show without a restart; the password never shows
    _fill(url, [make_result(40)])
    assert make_result(40).alpha_id in client.get("/?per_page=100").get_data(as_text=True)


def test_postgres_session_is_read_only(pg_server):  # noqa: F811
    from alpha_env.dashboard.queries import connect_readonly
    from alpha_env.errors import StoreError

    url = pg_server.new_database()
    _fill(url, [make_result(0)])
    con = connect_readonly(url)
    try:
        with pytest.raises(con.errors, match="read-only"):
            con.execute("DELETE FROM submissions")
    finally:
        con.close()
    with pytest.raises(StoreError, match="not a readable alpha-env store"):
        create_app(pg_server.new_database())


def test_alpha_page_ic_decay_and_quantiles_with_the_dataset(tmp_path):
    from alpha_env.data import synthetic_market
    from alpha_env.evaluate import Evaluator
    from alpha_env.pool.factor_metrics import ic_decay

    panel = synthetic_market(seed=3, n_stocks=30, n_days=300)
    here = make_result(1, expression="rank(ts_mean(close, 5))", dataset=panel.dataset_id)
    away = make_result(2, dataset="elsewhere")
    path = tmp_path / "s.db"
    _fill(path, [here, away])
    client = create_app(path, data=[panel]).test_client()
    html = client.get(f"/alpha/{here.alpha_id}").get_data(as_text=True)
    assert 'id="ic-decay-chart"' in html and 'id="quantile-chart"' in html and "factor-note" not in html
    # the table's train IC is the 1-day point of the decay curve on the train rows
    signal = Evaluator(panel).evaluate(here.expression)
    want = ic_decay(signal, panel.field("close"), panel.universe, horizons=[1], rows=panel.splits["train"])[1]
    assert f"{want:.4f}" in html
    other = client.get(f"/alpha/{away.alpha_id}").get_data(as_text=True)
    assert "dataset &#39;elsewhere&#39; is not available" in other and "ic-decay-chart" not in other
    plain = create_app(path).test_client().get(f"/alpha/{here.alpha_id}").get_data(as_text=True)
    assert "is not available" in plain


def test_serve_takes_several_db_options(tmp_path):
    import json
    import subprocess
    import sys
    import urllib.request

    a, b = tmp_path / "a.db", tmp_path / "b.db"
    _fill(a, [make_result(0)])
    _fill(b, [make_result(5)])
    proc = subprocess.Popen([sys.executable, "-m", "alpha_env", "serve", "--db", str(a), "--db", str(b),
                             "--port", "0", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["stores"] == [str(a), str(b)] and info["read_only"] is True
        with urllib.request.urlopen(info["url"] + "?store=1", timeout=60) as page:
            assert make_result(5).alpha_id in page.read().decode()
    finally:
        proc.terminate()
        proc.wait(30)
