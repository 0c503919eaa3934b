"""The brute-force check of a GrammarState's mask, shared by the mask tests (type rules alone, and masks
that refuse degenerate calls)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alpha_env.grammar import Codebook, GrammarState


def assert_mask_matches(state: GrammarState, book: Codebook, max_len: int, stack: Any, end_expected: bool,
                        push: Callable[[Any, Any], Any], completable: Callable[[Any, int], bool]) -> int:
    """Every id of ``state.mask()`` against a brute-force search: ``PAD``/``BOS`` never, ``END`` exactly
    when ``end_expected``, any other token exactly when ``push(stack, token)`` (``None``: ill-typed) fits
    in ``max_len`` and leaves a stack that ``completable`` finishes within the tokens left. Returns the
    number of ids checked."""
    mask = state.mask()
    for i, token in enumerate(book.tokens):
        if i in (Codebook.PAD, Codebook.BOS):
            expected = False
        elif i == Codebook.END:
            expected = end_expected
        else:
            new = push(stack, token)
            expected = (new is not None and state.length + 1 <= max_len
                        and completable(new, max_len - state.length - 1))
        assert mask[i] == expected, (max_len, book.texts[i], [book.texts[j] for j in state.ids])
    return len(book.tokens)
