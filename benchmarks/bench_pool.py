"""Pool speed: offering one alpha to a full pool of 20 versus one ACE simulation of that alpha.

Run: ``python benchmarks/bench_pool.py [DATASET]`` (default ``../shared/data/sp500_2013_2018``; the
embedded ``synthetic_market`` when the folder is absent). Prints the figures side by side in one run:
the offer's cost excludes evaluating the expression (both paths need the signal; the simulation's figure
includes it, so the evaluation is printed too). Then the same full pool with the main job's significance
gate (``min_ic_t=3``): offers of pure-noise candidates, refused at the gate before their dot products
with the members, against the offers above.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from alpha_env.ace import ACE
from alpha_env.data import load_panel, synthetic_market
from alpha_env.evaluate import Evaluator
from alpha_env.pool import AlphaPool, PoolSettings

FIELDS = ("close", "open", "high", "low", "volume", "vwap")


def _expressions() -> list[str]:
    out = []
    for d in (3, 5, 10, 20):
        for f in FIELDS:
            out.append(f"rank(-delta({f}, {d}))" if d % 2 else f"-ts_rank({f}, {d})")
    return out


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/sp500_2013_2018")
    t0 = time.perf_counter()
    panel = load_panel(path) if path.exists() else synthetic_market(seed=0)
    source = str(path) if path.exists() else "synthetic_market(seed=0)"
    print(f"panel {source}: {panel.shape[0]} days x {panel.shape[1]} stocks "
          f"(loaded in {time.perf_counter() - t0:.1f} s)")
    exprs = _expressions()
    members, candidates = exprs[:20], exprs[20:]
    ev = Evaluator(panel, cache_bytes=0)
    signals = {e: ev.evaluate(e) for e in exprs}
    ace = ACE(panel, evaluator=Evaluator(panel, cache_bytes=0))
    ace.simulate(candidates[0], save=False)  # compile / warm every kernel once
    settings = PoolSettings(capacity=20)
    t0 = time.perf_counter()
    pool = AlphaPool.from_panel(panel, settings)
    t_build = time.perf_counter() - t0
    for e in members:
        pool.add(e, signals[e])
    pool.offer(candidates[0], signals[candidates[0]])  # warm (a fresh slot's pages, lazy imports)
    candidates = candidates[1:] + [f"rank(ts_corr(close, volume, {d}))" for d in (5, 10, 20)] + [
        f"-ts_std(returns, {d})" for d in (10, 20)]
    signals.update({e: ev.evaluate(e) for e in candidates})

    rows = []
    for e in candidates:  # the pool stays full: an accepted candidate evicts a member
        t0 = time.perf_counter()
        ev.evaluate(e)
        t_eval = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = pool.offer(e, signals[e])
        t_offer = time.perf_counter() - t0
        t0 = time.perf_counter()
        ace.simulate(e, save=False)
        t_sim = time.perf_counter() - t0
        rows.append((e, t_eval, t_offer, t_sim, r.accepted, r.reason))
    print(f"pool setup (targets, buffers): {t_build * 1e3:.0f} ms once; full pool of {len(pool)} members")
    print(f"{'candidate':<34} {'evaluate ms':>11} {'offer ms':>9} {'simulate ms':>11}  result")
    for e, a, b, c, ok, why in rows:
        verdict = "accepted" if ok else "refused"
        print(f"{e:<34} {a * 1e3:11.1f} {b * 1e3:9.1f} {c * 1e3:11.1f}  {verdict}: {why}")
    off = np.median([r[2] for r in rows])
    sim = np.median([r[3] for r in rows])
    print(f"median: offer {off * 1e3:.1f} ms vs simulate {sim * 1e3:.1f} ms (ratio {off / sim:.2f})")

    gated = AlphaPool.from_panel(panel, PoolSettings(capacity=20, min_ic_t=3.0))
    for e in members:
        gated.add(e, signals[e])
    rng = np.random.default_rng(0)
    times = []
    for i in range(len(rows)):
        noise = rng.normal(size=panel.shape)
        t0 = time.perf_counter()
        r = gated.offer(f"noise{i}", noise)
        times.append(time.perf_counter() - t0)
        assert not r.accepted, r.reason
    gate = np.median(times)
    print(f"min_ic_t=3, full pool of {len(gated)}: a noise candidate refused at the gate {gate * 1e3:.1f} ms "
          f"(median of {len(times)}) vs an offer above {off * 1e3:.1f} ms (ratio {gate / off:.2f})")


if __name__ == "__main__":
    main()
