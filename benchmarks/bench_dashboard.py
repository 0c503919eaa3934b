"""Dashboard speed on a store of 100,000 alphas: the alpha table's pages and one alpha page.

Run: ``python benchmarks/bench_dashboard.py [N_ALPHAS] [N_DAYS]`` (default 100000 alphas of 252 days;
needs the ``dashboard`` extra). Builds the store in a temporary folder with raw SQLite inserts (schema
made by :class:`~alpha_env.ace.AlphaStore`; every metric of every split filled, PnL blobs drawn from 100
random series), then times, through Flask's test client (routing, query, template, all included):

* the index build when the app starts (reads the latest simulation of every alpha once);
* the first table page, a page sorted by another split's metric, a filtered page (dataset + text
  search + checks passed), a deep page (page 1000), and an alpha page (charts, correlations with the
  2,000 best alphas of its dataset). Each figure is the median of 5 requests, in milliseconds.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from alpha_env.ace import AlphaStore
from alpha_env.backtest import METRIC_NAMES

try:
    from alpha_env.dashboard import create_app
except ImportError as exc:  # `make bench` without the dashboard extra: say so, do not fail the loop
    print(f"bench_dashboard skipped: {exc.name} is not installed (pip install -e '.[dashboard]')")
    sys.exit(0)

SPLITS = ("train", "valid", "test", "all")
FIELDS = ("close", "open", "high", "low", "volume", "vwap")


def build_store(path: Path, n_alphas: int, n_days: int, seed: int = 0) -> None:
    """A store of ``n_alphas`` alphas (one simulation each) on 3 datasets and 4 settings."""
    AlphaStore(path).close()
    rng = np.random.default_rng(seed)
    dates = zlib.compress(np.arange(14610, 14610 + n_days, dtype="<i8").tobytes(), 1)
    blobs = [zlib.compress(rng.normal(3e-4, 0.01, n_days).astype("<f8").tobytes(), 1) for _ in range(100)]
    turnover = zlib.compress(np.full(n_days, 0.2, dtype="<f8").tobytes(), 1)
    settings = [json.dumps({"delay": d, "decay": dc, "neutralization": "market", "truncation": 0.1,
                            "cost_bps": 5.0}, sort_keys=True) for d in (0, 1) for dc in (0, 4)]
    splits = {"train": [0, n_days * 6 // 10], "valid": [n_days * 6 // 10, n_days * 8 // 10],
              "test": [n_days * 8 // 10, n_days]}
    con = sqlite3.connect(path)
    con.execute("BEGIN")
    for i in range(n_alphas):
        alpha_id = f"{i:016x}"
        expr = f"rank(ts_mean({FIELDS[i % 6]}, {2 + i % 60})) * ts_rank(volume, {3 + i % 17}) + {i}"
        values = rng.normal(0.5, 1.0, (len(SPLITS), len(METRIC_NAMES)))
        metrics = {s: dict(zip(METRIC_NAMES, map(float, values[k]))) for k, s in enumerate(SPLITS)}
        checks = [{"name": "sharpe", "value": metrics["train"]["sharpe"], "threshold": 1.25,
                   "passed": metrics["train"]["sharpe"] >= 1.25, "detail": ""},
                  {"name": "turnover", "value": 0.2, "threshold": [0.01, 0.7], "passed": True, "detail": ""}]
        meta = {"settings": json.loads(settings[i % 4]), "dataset_id": f"ds{i % 3}", "splits": splits,
                "code_version": "bench", "run_time_s": 0.1, "check_split": "train"}
        con.execute("INSERT INTO alphas VALUES (?, ?, ?, ?, ?)",
                    (alpha_id, expr, settings[i % 4], f"ds{i % 3}", f"2026-01-01T00:00:{i % 60:02d}"))
        cur = con.execute(
            "INSERT INTO simulations(alpha_id, created_at, code_version, run_time_s, degenerate_reason,"
            " metrics_json, yearly_json, checks_json, metadata_json) VALUES (?, ?, 'bench', 0.1, NULL,"
            " ?, ?, ?, ?)",
            (alpha_id, "2026-01-01T00:00:00", json.dumps(metrics), json.dumps({"2010": metrics["all"]}),
             json.dumps(checks), json.dumps(meta)))
        con.execute("INSERT INTO pnl_series VALUES (?, ?, ?, ?, ?)",
                    (cur.lastrowid, n_days, dates, blobs[i % 100], turnover))
    con.execute("COMMIT")
    con.close()


def _median_ms(client, url: str, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append(1e3 * (time.perf_counter() - t0))
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
    return statistics.median(times)


def main() -> None:
    n_alphas = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    n_days = int(sys.argv[2]) if len(sys.argv) > 2 else 252
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        build_store(path, n_alphas, n_days)
        print(f"store: {n_alphas} alphas x {n_days} days, {path.stat().st_size / 2**20:.0f} MiB, "
              f"built in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        app = create_app(path)
        print(f"app start (index of {len(app.extensions['alpha_dashboard'].index.frame)} alphas): "
              f"{1e3 * (time.perf_counter() - t0):.0f} ms")
        client = app.test_client()
        pages = {
            "first page (train Sharpe, 50 rows)": "/",
            "sorted by test fitness ascending": "/?sort=test.fitness&dir=asc",
            "filtered: dataset + text + checks": "/?dataset=ds1&q=ts_mean(vwap&passed=yes&sort=valid.ic",
            "deep page (page 1000)": "/?page=1000",
            "alpha page (charts + 2,000 correlations)": f"/alpha/{5:016x}",
        }
        for name, url in pages.items():
            print(f"{name:45s} {_median_ms(client, url):8.1f} ms")


if __name__ == "__main__":
    main()
