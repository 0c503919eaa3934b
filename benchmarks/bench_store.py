"""AlphaStore write speed: saves per second, SQLite vs PostgreSQL, one writer and 4 writers.

Run: ``python benchmarks/bench_store.py [--n 1000] [--writers 4]``. Each save stores one simulation of a
synthetic 1,000-day x 100-stock panel (a real ``ACE.simulate`` result: metrics per split, yearly table,
checks, 1,000-day PnL / turnover / dates), cloned under distinct alpha ids so every save writes an alpha,
a simulation and a PnL row. The stores, side by side in one run:

* SQLite (WAL, ``synchronous = NORMAL``: commits are not fsynced one by one);
* PostgreSQL with the server defaults (every commit fsynced: the durable setting);
* PostgreSQL with ``synchronous_commit = off`` (commits flushed in the background, like SQLite's NORMAL).

The PostgreSQL rows need ``initdb``/``pg_ctl`` (Debian's postgresql) and ``psycopg``; they are skipped
where either is absent. Writers are processes (fork), released together by a barrier; the rate is all
saves over the wall time from the barrier to the last writer's end.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alpha_env.ace import ACE, AlphaStore  # noqa: E402
from alpha_env.ace.result import SimulationResult  # noqa: E402
from alpha_env.data import synthetic_market  # noqa: E402


def _template() -> SimulationResult:
    ace = ACE(synthetic_market(seed=0, n_stocks=100, n_days=1000))
    return ace.simulate("rank(-delta(close, 5))")


def _clone(t: SimulationResult, alpha_id: str, seed: int) -> SimulationResult:
    rng = np.random.default_rng(seed)
    return SimulationResult(
        alpha_id=alpha_id, expression=f"{t.expression} + {seed}", metrics=t.metrics, yearly=t.yearly,
        pnl=t.pnl + rng.normal(0, 1e-4, t.pnl.shape), turnover=t.turnover, dates=t.dates, checks=t.checks,
        metadata=dict(t.metadata), degenerate_reason=t.degenerate_reason,
    )


def _writer(url: str, template: SimulationResult, ids: list[str], barrier, out) -> None:
    results = [_clone(template, a, i) for i, a in enumerate(ids)]
    with AlphaStore(url) as store:
        barrier.wait()
        start = time.perf_counter()
        for r in results:
            store.save(r)
        out.put((start, time.perf_counter()))


def saves_per_second(url: str, template: SimulationResult, n: int, writers: int, tag: str) -> float:
    """``n`` saves split over ``writers`` processes into the store at ``url``; saves per second."""
    with AlphaStore(url):  # create the tables before the clock starts
        pass
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(writers), ctx.Queue()
    ids = [f"{tag}-{i:05d}" for i in range(n)]
    procs = [ctx.Process(target=_writer, args=(url, template, ids[w::writers], barrier, out))
             for w in range(writers)]
    for p in procs:
        p.start()
    spans = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"writer exited with {p.exitcode}")
    with AlphaStore(url) as store:
        assert store.counts()["simulations"] == n, store.counts()
    wall = max(e for _, e in spans) - min(s for s, _ in spans)
    return n / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="saves per case")
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()
    template = _template()
    print(f"one save: 1 alpha + 1 simulation + {template.pnl.shape[0]}-day PnL; {args.n} saves per case")
    stores: list[tuple[str, object]] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_store_"))
    stores.append(("SQLite (WAL, synchronous=NORMAL)", lambda tag: str(tmp / f"{tag}.db")))
    servers = []
    try:
        import psycopg  # noqa: F401

        from tests.pg_support import PgServer, find_pg_bin

        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise RuntimeError("initdb/pg_ctl not found")
        durable = PgServer(bin_dir, durable=True)
        servers.append(durable)
        stores.append(("PostgreSQL (defaults: fsync per commit)", lambda tag: durable.new_database()))

        def async_db(tag: str) -> str:
            url = durable.new_database()
            name = url.rsplit("/", 1)[1]
            with psycopg.connect(durable.url(), autocommit=True) as con:
                con.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
            return url

        stores.append(("PostgreSQL (synchronous_commit=off)", async_db))
    except (ImportError, RuntimeError, OSError) as exc:
        print(f"PostgreSQL skipped: {exc}")
    try:
        print(f"| store | 1 writer (saves/s) | {args.writers} writers (saves/s) |")
        print("|---|---|---|")
        for k, (name, make) in enumerate(stores):
            one = saves_per_second(make(f"s{k}w1"), template, args.n, 1, f"s{k}w1")
            many = saves_per_second(make(f"s{k}wn"), template, args.n, args.writers, f"s{k}wn")
            print(f"| {name} | {one:,.0f} | {many:,.0f} |", flush=True)
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    main()
