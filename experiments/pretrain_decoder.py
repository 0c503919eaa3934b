"""Stage 1: pretrain the AlphaDecoder (the PPO actor) by teacher forcing on the alpha corpus.

The corpus (seeded): the 101 Formulaic Alphas that fit the length budget, grammar-valid random expressions
and mutations / recombinations of corpus alphas. The corpus carries no documents, so pretraining is
unconditioned (the decoder's null memory); the decoder accepts document vectors of the environment's width,
which stage 2 learns to use in document mode. Reports the held-out next-token accuracy and the share of
sampled expressions (grammar-masked sampling) that are valid, non-degenerate on the market (ACE) and
distinct; writes the checkpoint (with the codebook version) that ``train_ppo.py`` loads by default.

Usage::

    python experiments/pretrain_decoder.py                 # writes artifacts/alpha_decoder.pt
    python experiments/pretrain_decoder.py --quick --out /tmp/decoder.pt
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import DEFAULT_CHECKPOINT, load_market, parse_args, run_cli

__all__ = ["Args", "main", "cli"]


@dataclass
class Args:
    """Arguments of pretrain_decoder.py."""

    out: str = str(DEFAULT_CHECKPOINT)
    """checkpoint file to write"""
    data: str | None = None
    """market on which sampled expressions are judged (default: the embedded synthetic market)"""
    seed: int = 0
    """seed of the corpus, the initialization, the training and the samples"""
    corpus_size: int | None = None
    """corpus expressions (default: PretrainSettings)"""
    epochs: int | None = None
    """training epochs (default: PretrainSettings)"""
    threads: int = 1
    """torch intra-op threads"""
    quick: bool = False
    """tiny corpus and model (seconds), for tests"""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Pretrain, save, print the report; returns the report as a dict."""
    args = parse_args(Args, argv)
    import torch
    from rich.console import Console

    from agents import PretrainSettings, pretrain_actor
    from alpha_env.ace import ACE
    from alpha_env.grammar import Codebook
    from encoders import save_checkpoint

    torch.set_num_threads(args.threads)
    console = Console()
    overrides = {k: v for k, v in {"corpus_size": args.corpus_size, "epochs": args.epochs}.items()
                 if v is not None}
    settings = (PretrainSettings.quick if args.quick else PretrainSettings)(seed=args.seed, **overrides)
    codebook = Codebook.default()
    ace = ACE(load_market(args.data))
    console.print(f"Pretraining the actor: {settings.corpus_size} corpus expressions (max "
                  f"{settings.corpus_max_len} tokens), d_model {settings.d_model} x {settings.num_layers} "
                  f"layers, {settings.epochs} epochs")
    decoder, report = pretrain_actor(codebook, settings, ace=ace, show_progress=True)
    path = save_checkpoint(decoder, args.out, extra={"pretrain_report": report.as_dict(),
                                                     "settings": dataclasses.asdict(settings)})
    console.print(f"held-out next-token accuracy   {report.holdout_accuracy:.3f} "
                  f"({report.holdout_size} expressions)")
    console.print(f"sampled expressions valid      {report.sample_valid_rate:.1%}")
    console.print(f"                non-degenerate {report.nondegenerate_shown()}")
    console.print(f"                distinct       {report.sample_unique_rate:.1%}")
    for text in report.examples:
        console.print(f"  e.g. {text}")
    console.print(f"train loss per epoch: {', '.join(f'{x:.3f}' for x in report.train_loss)}")
    console.print(f"checkpoint: {path} (codebook {codebook.version}); {report.seconds:.0f} s")
    out = report.as_dict()
    out["checkpoint"] = str(path)
    Path(path).with_suffix(".json").write_text(json.dumps(out, indent=2))
    return out


def cli(argv: list[str] | None = None) -> int:
    """Command-line entry: user errors print one line and exit 2."""
    return run_cli(main, "pretrain_decoder", argv)


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
