"""Grammar speed: parse, canonical, encode, and GrammarState mask/push per environment step.

Run: ``python benchmarks/bench_grammar.py``. Prints figures measured side by side in one run.
"""

from __future__ import annotations

import time

import numpy as np

from alpha_env.grammar import Codebook, GrammarState, alpha101, canonical, parse, to_stack


def _time(fn, repeat: int) -> float:
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def main() -> None:
    corpus = alpha101()
    book = Codebook.default()
    texts = [a.text for a in corpus]
    exprs = [a.expr for a in corpus]
    t_parse = _time(lambda: [parse(t) for t in texts], 20) / len(texts)
    t_canon = _time(lambda: [canonical(e) for e in exprs], 20) / len(exprs)
    t_stack = _time(lambda: [to_stack(e) for e in exprs], 20) / len(exprs)
    t_enc = _time(lambda: [book.encode(e) for e in exprs], 20) / len(exprs)
    print(f"codebook {book.version}: {len(book)} tokens")
    print(f"parse          {t_parse * 1e6:8.1f} us / alpha (101 alphas)")
    print(f"canonical      {t_canon * 1e6:8.1f} us / alpha")
    print(f"to_stack       {t_stack * 1e6:8.1f} us / alpha")
    print(f"encode         {t_enc * 1e6:8.1f} us / alpha")

    for name, cb in (("default", book), ("default + 230 custom fields", book.extend(
            fields=[f"f{i}" for i in range(230)]))):
        for units in (False, True):
            rng = np.random.default_rng(0)
            t_mask = t_push = 0.0
            steps = 0
            for _ in range(300):
                state = GrammarState(cb, 30, units=units)
                while not state.done:
                    t0 = time.perf_counter()
                    mask = state.mask()
                    t1 = time.perf_counter()
                    token = int(rng.choice(np.flatnonzero(mask)))
                    t2 = time.perf_counter()
                    state.push(token)
                    t3 = time.perf_counter()
                    t_mask += t1 - t0
                    t_push += t3 - t2
                    steps += 1
            print(f"GrammarState [{name}, {len(cb)} ids, units={units}]: "
                  f"mask {t_mask / steps * 1e6:6.1f} us, "
                  f"push (incl. validity check) {t_push / steps * 1e6:6.1f} us per step ({steps} steps)")


if __name__ == "__main__":
    main()
