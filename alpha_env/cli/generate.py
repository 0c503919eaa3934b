"""``alpha-env generate --news TEXT``: sample alphas from the trained actor conditioned on a piece of news.

The news (a text, or the path of a text file) is embedded (``--doc-encoder``: the bundled MiniLM sentence
encoder, or the torch-free hashed bag of words), the actor samples ``--n`` distinct valid expressions
conditioned on it (the grammar mask, :class:`~alpha_env.grammar.GrammarState`, is applied at every token,
restricted to the fields and windows the market has), every expression is simulated by the ACE on the
market (``--data``; default the embedded synthetic market), and the list is printed ranked by the train
split's Sharpe (degenerate alphas last). Test-split metrics are never shown.

The actor is ``--checkpoint``: a stage-1 / hindsight decoder checkpoint (``.pt``, default
``artifacts/alpha_decoder.pt``) or an agent saved by ``experiments/train_ppo.py`` (``model.zip``, with its
alpha encoder and fusion if it has them). Needs the ``rl`` extra (torch); without it the command fails
with a one-line message.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["register", "generate_alphas", "DOC_ENCODERS"]

#: How the news text becomes the actor's document vector.
DOC_ENCODERS = ("minilm", "hashed")

_SHOWN_METRICS = ("sharpe", "ic", "fitness", "turnover")


def _news_text(news: str) -> str:
    from alpha_env.errors import SettingsError

    path = Path(news)
    try:
        if len(news) < 4096 and path.is_file():
            news = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"--news {news}: cannot read the file ({exc})") from None
    if not news.strip():
        raise SettingsError("--news is empty: give a text or the path of a text file")
    return news


def _embed(text: str, doc_encoder: str, dim: int) -> np.ndarray:
    """``float32 (dim,)`` embedding of ``text``; the encoder's width must be the actor's ``dim``."""
    from alpha_env.errors import SettingsError

    if doc_encoder == "hashed":
        from alpha_env.env import hashed_bag_of_words

        return hashed_bag_of_words(text, dim).astype(np.float32)
    from encoders import DocumentEncoder

    vector = DocumentEncoder(show_progress=False).encode([text])[0].astype(np.float32)
    if vector.shape[0] != dim:
        raise SettingsError(
            f"--doc-encoder {doc_encoder} gives {vector.shape[0]}-wide vectors but the actor reads "
            f"documents of width {dim}; use the encoder it was trained with (--doc-encoder hashed?)"
        )
    return vector


def _sample_with_decoder(decoder: Any, document: np.ndarray, codebook: Any, vocabulary: np.ndarray,
                         max_len: int, draws: int, generator: Any) -> list[list[int]]:
    import torch

    memory = None
    if decoder.config.doc_dim:
        memory = decoder.memory(doc=torch.as_tensor(document).unsqueeze(0))
    with torch.no_grad():
        return decoder.generate(draws, codebook, max_len=max_len, memory=memory, generator=generator,
                                vocabulary=vocabulary)


def _sample_with_policy(policy: Any, document: np.ndarray, codebook: Any, vocabulary: np.ndarray,
                        max_len: int, draws: int, generator: Any) -> list[list[int]]:
    """Token by token with the saved agent's own (masked) distribution: alpha encoder and fusion included."""
    import torch

    from alpha_env.grammar import GrammarState

    width = int(policy.observation_space["tokens"].shape[0])
    out = []
    for _ in range(draws):
        state = GrammarState(codebook, max_len, allowed=vocabulary)
        tokens = np.zeros(width, dtype=np.int64)
        while True:
            mask = np.asarray(state.mask(), dtype=bool)
            if not mask.any():
                break
            obs = {"tokens": torch.as_tensor(tokens).unsqueeze(0),
                   "action_mask": torch.as_tensor(mask.astype(np.int8)).unsqueeze(0),
                   "document": torch.as_tensor(document).unsqueeze(0),
                   "position": torch.tensor([[state.length]]), "stack_depth": torch.tensor([[state.depth]])}
            probs = policy.action_probabilities(obs)[0]
            token = int(torch.multinomial(probs, 1, generator=generator))
            state.push(token)
            if token == codebook.END:
                break
            tokens[state.length - 1] = token
        out.append([int(t) for t in tokens[: state.length] if t])
    return out


def generate_alphas(news: str, *, checkpoint: str | Path, n: int = 10, data: str | None = None,
                    doc_encoder: str = "minilm", max_len: int = 15, seed: int = 0,
                    draws_per_alpha: int = 5) -> dict[str, Any]:
    """Sample up to ``n`` distinct valid alphas conditioned on ``news``, simulate and rank them.

    Args:
        news: the text, or the path of a text file.
        checkpoint: a decoder checkpoint (``.pt``) or a saved agent (``.zip``).
        n: distinct expressions wanted; at most ``n * draws_per_alpha`` samples are drawn.
        data: the market (``None``: the embedded synthetic market).
        doc_encoder: ``minilm`` or ``hashed`` (must give the actor's document width).
        max_len: most tokens per expression (capped by the actor's own limit).
        seed: seed of the sampling.

    Returns:
        ``{"news": ..., "checkpoint": ..., "drawn": k, "alphas": [{rank, expression, alpha_id,
        degenerate_reason, train: {...}, valid: {...}}, ...]}``, best train Sharpe first.
    """
    import torch

    from alpha_env.ace import ACE
    from alpha_env.data import resolve_panel
    from alpha_env.env import AlphaStackEnv
    from alpha_env.errors import SettingsError
    from alpha_env.grammar import Codebook, canonical

    if n < 1:
        raise SettingsError(f"--n must be >= 1, got {n}")
    if doc_encoder not in DOC_ENCODERS:
        raise SettingsError(f"--doc-encoder must be one of {DOC_ENCODERS}, got {doc_encoder!r}")
    text = _news_text(news)
    source = Path(checkpoint)
    if not source.is_file():
        raise SettingsError(
            f"--checkpoint {source} does not exist: pretrain the actor (experiments/pretrain_decoder.py) "
            "or train one (experiments/train_ppo.py writes runs/<run>/model.zip)"
        )
    codebook = Codebook.default()
    if source.suffix == ".zip":
        from agents.builders import load_agent

        policy = load_agent(None, source).policy
        policy.set_training_mode(False)
        actor_len, doc_dim = int(policy.observation_space["tokens"].shape[0]), int(policy.document_dim)
        sample = _sample_with_policy
        actor: Any = policy
    else:
        from encoders import load_checkpoint

        actor = load_checkpoint(source, codebook, kind="alpha_decoder").model
        actor_len, doc_dim = int(actor.config.max_len), int(actor.config.doc_dim)
        sample = _sample_with_decoder
    max_len = min(int(max_len), actor_len)
    document = _embed(text, doc_encoder, doc_dim) if doc_dim else np.zeros(0, dtype=np.float32)
    panel = resolve_panel(data)
    # the env's vocabulary: the agent vocabulary restricted to the fields, groups and windows of this market
    vocabulary = AlphaStackEnv(panel, max_len=max_len, codebook=codebook, cache_bytes=0).vocabulary
    generator = torch.Generator().manual_seed(int(seed))
    found: dict[str, Any] = {}
    drawn = 0
    while len(found) < n and drawn < n * draws_per_alpha:
        batch = min(n - len(found), n * draws_per_alpha - drawn)
        for ids in sample(actor, document, codebook, vocabulary, max_len, batch, generator):
            drawn += 1
            expr = codebook.decode(ids)  # grammar-masked samples always decode
            found.setdefault(canonical(expr), expr)
            if len(found) >= n:
                break
    ace = ACE(panel)
    rows = []
    for text_expr in found:
        result = ace.simulate(text_expr)
        row = {"expression": result.expression, "alpha_id": result.alpha_id,
               "degenerate_reason": result.degenerate_reason}
        for split in ("train", "valid"):
            metrics = result.metrics.get(split, {})
            row[split] = {m: _finite(metrics.get(m)) for m in _SHOWN_METRICS}
        rows.append(row)
    rows.sort(key=lambda r: (r["degenerate_reason"] is not None,
                             -(r["train"]["sharpe"] if r["train"]["sharpe"] is not None else -np.inf)))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return {"news": text[:200], "checkpoint": str(source), "doc_encoder": doc_encoder, "drawn": drawn,
            "alphas": rows}


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _run(args: argparse.Namespace) -> int:
    from alpha_env.errors import SettingsError

    try:
        import torch  # noqa: F401
    except ImportError:
        raise SettingsError("generate needs the rl extra: pip install 'alpha-env[rl]'") from None
    checkpoint = args.checkpoint
    if checkpoint is None:
        from agents.job import DEFAULT_CHECKPOINT

        checkpoint = DEFAULT_CHECKPOINT
    out = generate_alphas(args.news, checkpoint=checkpoint, n=args.n, data=args.data,
                          doc_encoder=args.doc_encoder, max_len=args.max_len, seed=args.seed)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(out['alphas'])} alphas from {out['drawn']} samples ({out['checkpoint']})")
    for column in ("#", "expression", "train sharpe", "train ic", "valid sharpe", "note"):
        table.add_column(column)
    for row in out["alphas"]:
        fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        table.add_row(str(row["rank"]), row["expression"], fmt(row["train"]["sharpe"]),
                      fmt(row["train"]["ic"]), fmt(row["valid"]["sharpe"]), row["degenerate_reason"] or "")
    Console().print(table)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``generate`` subcommand (torch is imported only when it runs)."""
    p = subparsers.add_parser(
        "generate",
        help="sample alphas from the trained actor conditioned on a piece of news, simulate and rank them",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    p.add_argument("--news", required=True, help="the news text, or the path of a text file")
    p.add_argument("--checkpoint", default=None,
                   help="the actor: a decoder checkpoint .pt or a saved agent model.zip "
                        "(default: artifacts/alpha_decoder.pt)")
    p.add_argument("--n", type=int, default=10, help="distinct expressions to generate (default 10)")
    p.add_argument("--data", default=None, help="dataset folder or price file (default: synthetic market)")
    p.add_argument("--doc-encoder", choices=DOC_ENCODERS, default="minilm",
                   help="news embedding: the bundled MiniLM (default) or the hashed bag of words")
    p.add_argument("--max-len", type=int, default=15, help="most tokens per expression (default 15)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run)
