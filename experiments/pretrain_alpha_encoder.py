"""Stage-1 pretraining of the AlphaEncoder: masked-token prediction on the alpha corpus.

The corpus is ``alpha_env.grammar.build_corpus`` (the 101 alphas, grammar-valid random expressions,
mutations and recombinations; seeded). A held-out share is never trained on. The script reports:

* masked-token accuracy on the held-out part, before and after training;
* nearest neighbours in embedding space: for each of the first alphas of the corpus, the closest other
  expression by cosine of the pooled encoding, and how structurally similar neighbours are compared with
  random pairs (Jaccard overlap of their token multisets: 1 = same tokens, 0 = none shared).

``--encoder tree`` trains the node-convolutional :class:`encoders.AlphaTreeEncoder` instead, with the same
corpus, split and masked-node objective; ``--encoder both`` trains both and prints them side by side.

Writes ``runs/<run>/alpha_encoder.pt`` (stack), ``alpha_tree_encoder.pt`` (tree) and ``summary.json``.

Usage::

    python experiments/pretrain_alpha_encoder.py              # defaults: 20,000 expressions, 10 epochs
    python experiments/pretrain_alpha_encoder.py --quick      # seconds, for CI
    python experiments/pretrain_alpha_encoder.py --encoder both --corpus-size 5000 --epochs 4
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "experiments") not in sys.path:  # _common, also when imported by file path
    sys.path.insert(0, str(ROOT / "experiments"))

import _common  # noqa: E402

__all__ = ["Args", "ENCODERS", "main", "token_jaccard"]


@dataclass
class Args:
    """Arguments of pretrain_alpha_encoder.py."""

    corpus_size: int = 20_000
    """expressions in the corpus (the 101 alphas included)"""
    max_len: int = 30
    """most tokens per expression"""
    valid_share: float = 0.1
    """held-out share of the corpus"""
    epochs: int = 10
    """passes over the training part"""
    batch_size: int = 64
    """sequences per step"""
    lr: float = 1e-3
    """peak learning rate (slanted triangular schedule)"""
    hidden_size: int = 128
    """encoder width"""
    num_layers: int = 4
    """encoder layers (stack transformer; the tree network convolves as many times as the tree is high)"""
    encoder: str = field(default="stack", metadata={"choices": ("stack", "tree", "both")})
    """stack (transformer over the AlphaStack), tree (node convolution over the AlphaTree) or both"""
    seed: int = 0
    """seeds the corpus, the split, the initialization and training"""
    threads: int = 1
    """torch intra-op threads"""
    out: str = "runs"
    """parent folder of the run folder"""
    run_name: str | None = None
    """run folder name (default: alpha_encoder__<seed>__<time>)"""
    quick: bool = False
    """CI mode: 400 expressions, 2 epochs, a 2-layer 32-wide encoder"""


def parse_args(argv: list[str] | None = None) -> Args:
    """Command line → :class:`Args` (one ``--flag`` per field; ``--quick`` then shrinks the job)."""
    args = _common.parse_args(Args, argv, description=__doc__.split("\n")[0])
    if args.quick:
        args.corpus_size, args.epochs, args.hidden_size, args.num_layers = 400, 2, 32, 2
    return args


def token_jaccard(a: list[int], b: list[int]) -> float:
    """Jaccard overlap of two token multisets (``|a ∩ b| / |a ∪ b|``, counts respected)."""
    ca, cb = Counter(a), Counter(b)
    union = sum((ca | cb).values())
    return sum((ca & cb).values()) / union if union else 1.0


ENCODERS = Args.__dataclass_fields__["encoder"].metadata["choices"]
"""``--encoder`` choices: the stack transformer, the tree node-convolution network, or both side by side."""

CHECKPOINT_NAMES = {"stack": "alpha_encoder.pt", "tree": "alpha_tree_encoder.pt"}


def _build(kind: str, codebook, args: Args):
    from encoders import AlphaEncoder, AlphaEncoderConfig, AlphaTreeEncoder, AlphaTreeEncoderConfig

    if kind == "tree":
        config = AlphaTreeEncoderConfig.from_codebook(codebook, max_len=args.max_len,
                                                      hidden_size=args.hidden_size)
        return AlphaTreeEncoder(config, seed=args.seed)
    config = AlphaEncoderConfig.from_codebook(
        codebook,
        max_len=args.max_len,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        num_heads=4 if args.hidden_size % 4 == 0 else 2,
        intermediate_size=4 * args.hidden_size,
    )
    return AlphaEncoder(config, seed=args.seed)


def _train_one(kind: str, codebook, exprs, sequences, train, valid, args: Args, out: Path) -> dict:
    """Pretrain one encoder kind on the shared split; its summary (accuracy, neighbours, checkpoint)."""
    import torch

    from alpha_env.grammar import canonical
    from encoders import masked_token_accuracy, pad_sequences, pretrain_alpha_encoder, save_checkpoint

    rng = np.random.default_rng(args.seed)  # the same probe pairs for every kind
    encoder = _build(kind, codebook, args)
    before = masked_token_accuracy(encoder, valid, seed=args.seed + 1)
    start = time.perf_counter()
    history = pretrain_alpha_encoder(
        encoder,
        train,
        valid=valid,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        show_progress=True,
        on_epoch=lambda e, h: print(
            f"[{kind}] epoch {e + 1}: loss {h.train_loss[-1]:.3f}, "
            f"held-out masked accuracy {h.valid_accuracy[-1]:.3f}"
        ),
    )
    seconds = time.perf_counter() - start

    # ---- nearest neighbours of the first corpus expressions (the 101 alphas come first)
    with torch.no_grad():
        pooled = torch.cat(
            [encoder(pad_sequences(sequences[i : i + 512])).pooled for i in range(0, len(sequences), 512)]
        )
    unit = torch.nn.functional.normalize(pooled, dim=-1)
    queries = list(range(min(10, len(sequences))))
    similarity = unit[queries] @ unit.T
    similarity[torch.arange(len(queries)), torch.tensor(queries)] = -2.0
    nearest = similarity.argmax(dim=1).tolist()
    neighbours = [
        {
            "alpha": canonical(exprs[q]),
            "nearest": canonical(exprs[n]),
            "token_jaccard": round(token_jaccard(sequences[q], sequences[n]), 3),
        }
        for q, n in zip(queries, nearest)
    ]
    probe = rng.choice(len(sequences), size=min(500, len(sequences)), replace=False)
    probe_sim = unit[probe] @ unit.T
    probe_sim[torch.arange(len(probe)), torch.as_tensor(probe)] = -2.0
    nn_jaccard = float(
        np.mean(
            [
                token_jaccard(sequences[int(q)], sequences[int(n)])
                for q, n in zip(probe, probe_sim.argmax(dim=1))
            ]
        )
    )
    random_jaccard = float(
        np.mean(
            [
                token_jaccard(sequences[int(a)], sequences[int(b)])
                for a, b in zip(probe, rng.permutation(len(sequences))[: len(probe)])
            ]
        )
    )
    checkpoint = save_checkpoint(
        encoder,
        out / CHECKPOINT_NAMES[kind],
        extra={"epochs": args.epochs, "valid_accuracy": history.valid_accuracy},
    )
    print(
        f"[{kind}] held-out masked-token accuracy: {before:.3f} → {history.valid_accuracy[-1]:.3f} "
        f"({seconds:.0f} s)"
    )
    print(
        f"[{kind}] token overlap (Jaccard) of nearest neighbours {nn_jaccard:.3f} "
        f"vs random pairs {random_jaccard:.3f}"
    )
    for row in neighbours[:5]:
        print(f"  {row['alpha']}\n    ↳ {row['nearest']}  (Jaccard {row['token_jaccard']})")
    print(f"[{kind}] checkpoint: {checkpoint}")
    return {
        "encoder": kind,
        "parameters": sum(p.numel() for p in encoder.parameters()),
        "seconds": round(seconds, 1),
        "masked_accuracy_before": round(before, 4),
        "masked_accuracy_after": round(history.valid_accuracy[-1], 4),
        "train_loss": [round(x, 4) for x in history.train_loss],
        "nearest_neighbour_token_jaccard": round(nn_jaccard, 3),
        "random_pair_token_jaccard": round(random_jaccard, 3),
        "neighbours": neighbours,
        "checkpoint": str(checkpoint),
    }


def main(argv: list[str] | None = None) -> dict:
    """Run the job; returns the summary written to ``summary.json``.

    The summary's top level describes the first encoder (``stack`` unless ``--encoder tree``); with
    ``--encoder both`` the tree encoder's figures are under ``"tree"`` and a side-by-side table is printed.
    """
    args = parse_args(argv)
    import torch

    from alpha_env.errors import SettingsError
    from alpha_env.grammar import Codebook, build_corpus

    if args.encoder not in ENCODERS:
        raise SettingsError(f"--encoder must be one of {ENCODERS}, got {args.encoder!r}")
    # ---- seeding: every random draw below comes from these seeds
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    run = args.run_name or f"alpha_encoder__{args.seed}__{int(time.time())}"
    out = Path(args.out) / run
    out.mkdir(parents=True, exist_ok=True)

    codebook = Codebook.default()
    exprs = build_corpus(codebook, size=args.corpus_size, max_len=args.max_len, seed=args.seed)
    sequences = [codebook.encode(e) for e in exprs]
    order = rng.permutation(len(sequences))
    n_valid = max(int(len(sequences) * args.valid_share), 1)
    valid = [sequences[i] for i in order[:n_valid]]
    train = [sequences[i] for i in order[n_valid:]]
    print(
        f"corpus: {len(sequences):,} expressions ({len(train):,} train / {len(valid):,} held out), "
        f"codebook {codebook.version}"
    )
    kinds = ["stack", "tree"] if args.encoder == "both" else [args.encoder]
    results = {kind: _train_one(kind, codebook, exprs, sequences, train, valid, args, out) for kind in kinds}
    first = results[kinds[0]]
    summary = {
        "run": run,
        "args": dataclasses.asdict(args),
        "codebook_version": codebook.version,
        "corpus": len(sequences),
        **{k: v for k, v in first.items() if k != "encoder"},
    }
    if "tree" in results and kinds[0] != "tree":
        summary["tree"] = results["tree"]
    if len(results) > 1:
        print("\n| encoder | parameters | seconds | held-out masked accuracy | NN token Jaccard "
              "| random pairs |")
        print("|---|---|---|---|---|---|")
        for kind, row in results.items():
            print(
                f"| {kind} | {row['parameters']:,} | {row['seconds']:.0f} | "
                f"{row['masked_accuracy_before']:.3f} → {row['masked_accuracy_after']:.3f} | "
                f"{row['nearest_neighbour_token_jaccard']:.3f} | {row['random_pair_token_jaccard']:.3f} |"
            )
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    sys.exit(_common.run_cli(main, "pretrain_alpha_encoder", sys.argv[1:]))
