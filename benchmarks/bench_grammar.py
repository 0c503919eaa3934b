"""Grammar speed: parse, canonical, encode, and GrammarState mask/push per environment step.

Run: ``python benchmarks/bench_grammar.py``. Prints figures measured side by side in one run: the
mask/push lines alternate, episode by episode, states that use the tables' memo of stack rows and masks
(:meth:`GrammarTables.stack_row`, :meth:`GrammarTables.memo_mask`) and states that compute both at every
step (``GrammarTables(memo=False)``), on the same random episodes.
"""

from __future__ import annotations

import time

import numpy as np

from alpha_env.grammar import Codebook, GrammarState, alpha101, canonical, parse, to_stack
from alpha_env.grammar.state import GrammarTables


def no_memo_state(codebook, max_len, *, units: bool = False, allowed=None,
                  refuse_degenerate: bool = False) -> GrammarState:
    """A :class:`GrammarState` on tables without the memo (``GrammarTables(memo=False)``, kept on the
    codebook, one per option set)."""
    state = GrammarState(codebook, max_len, units=units, allowed=allowed, refuse_degenerate=refuse_degenerate)
    key = ("no_memo_tables", units, None if allowed is None else np.packbits(allowed).tobytes(),
           refuse_degenerate)
    if key not in codebook._cache:
        codebook._cache[key] = GrammarTables(codebook, units=units, allowed=allowed, memo=False,
                                             refuse_degenerate=refuse_degenerate)
    state._t = codebook._cache[key]
    return state


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
            t = {False: [0.0, 0.0], True: [0.0, 0.0]}
            steps = 0
            for episode in range(600):
                memo = episode % 2 == 0
                rng = np.random.default_rng(episode // 2)  # each pair of episodes writes the same tokens
                state = GrammarState(cb, 30, units=units) if memo else no_memo_state(cb, 30, units=units)
                while not state.done:
                    t0 = time.perf_counter()
                    mask = state.mask()
                    t1 = time.perf_counter()
                    token = int(rng.choice(np.flatnonzero(mask)))
                    t2 = time.perf_counter()
                    state.push(token)
                    t3 = time.perf_counter()
                    t[memo][0] += t1 - t0
                    t[memo][1] += t3 - t2
                    steps += memo
            (m0, p0), (m1, p1) = t[False], t[True]
            print(f"GrammarState [{name}, {len(cb)} ids, units={units}], us per step ({steps} steps): "
                  f"mask {m0 / steps * 1e6:6.1f} -> {m1 / steps * 1e6:6.1f} with the memo, "
                  f"push (incl. validity check) {p0 / steps * 1e6:6.1f} -> {p1 / steps * 1e6:6.1f}, "
                  f"both {(m0 + p0) / (m1 + p1):4.2f}x")

if __name__ == "__main__":
    main()
