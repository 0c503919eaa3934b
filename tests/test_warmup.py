"""``python -m alpha_env.warmup``: one call per operator, every call accepted by the evaluator."""

from __future__ import annotations

from alpha_env.grammar import OPERATORS, parse
from alpha_env.warmup import operator_calls, warm


def test_one_plain_call_per_operator():
    calls = operator_calls()
    assert len(calls) == len(OPERATORS)
    for call in calls:
        parse(call)


def test_warm_evaluates_every_operator_on_one_thread():
    done, refused = warm(parallel=False)
    assert done + len(refused) == len(OPERATORS)
    assert refused == []
